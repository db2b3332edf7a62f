r"""The tax-lot ledger: purchases open lots, sales relieve them, wash sales defer losses.

Wash sales (IRC §1091; 26 CFR 1.1091-1, 1.1091-2; IRS Publication 550)
-----------------------------------------------------------------------
A loss on a sale is disallowed when substantially identical shares (the same ticker, or
the same group when ``groups`` maps several tickers together) were bought within 30 days
before or after the sale, in any account of the taxpayer:

- losses are matched in the order of the sales (earliest first; on one day, in the order
  the sold shares were acquired), 26 CFR 1.1091-1(b);
- replacement shares are taken in the order they were bought, 1.1091-1(c), and each share
  washes at most one loss, 1.1091-1(e); fewer replacement shares than sold shares disallow
  the loss of the matched shares only, 1.1091-1(d);
- the disallowed loss is added to the basis of the replacement shares, 1.1091-2, and their
  holding period includes the sold shares', IRC §1223(3); chains follow naturally, since a
  replacement lot sold at a loss is itself washed by a later purchase;
- shares bought in the same purchase as the shares sold, or before them, are not
  replacements (Rev. Rul. 56-602), nor are shares already sold when the loss sale happens.

With :math:`D` the disallowed losses still in open lots' basis, every cent is accounted:

.. math::

    \sum_\text{dispositions} (h) = \sum_\text{sales}(\text{net proceeds})
        - \sum_\text{sold shares}(\text{original cost}) + D .

Examples
--------
26 CFR 1.1091-2, Example 1: a share bought for $100 is sold for $80 on 15 January; another
is bought for $90 on 1 February. The loss is disallowed and the new share's basis is $110.

>>> from datetime import date
>>> from decimal import Decimal as D
>>> led = TaxLedger()
>>> _ = led.book(Transaction("A", "X", date(1935, 6, 1), "buy", D(1), D(100)))
>>> _ = led.book(Transaction("A", "X", date(1955, 1, 15), "sell", D(1), D(80)))
>>> _ = led.book(Transaction("A", "X", date(1955, 2, 1), "buy", D(1), D(90)))
>>> led.dispositions()[0].disallowed, led.open_lots()[0].basis
(Decimal('20'), Decimal('110'))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.holding import tacked
from tftrade.compliance.money import ZERO, mul, prorata
from tftrade.compliance.tax_lots import Disposition, TaxLot, relief_order
from tftrade.compliance.transactions import Method, Split, Transaction

WINDOW = timedelta(days=30)


@dataclass(slots=True)
class _PendingLoss:
    """Loss shares of a sale not yet matched with replacement shares (open for 30 days)."""

    disposition: Disposition
    shares: Decimal
    loss: Decimal


class TaxLedger:
    """Lots per account and ticker, dispositions, and the wash-sale rule across accounts.

    Parameters
    ----------
    method
        Default lot-relief method for sales that name no lots.
    groups
        Optional map ticker → group of substantially identical securities (default: each
        ticker is its own group).
    wash_sales
        Apply the wash-sale rule (default ``True``).

    Transactions and splits must be booked in date order within a group; a transaction
    that fails validation changes nothing.
    """

    def __init__(self, method: Method = "fifo", groups: Mapping[str, str] | None = None,
                 wash_sales: bool = True) -> None:
        self.method: Method = method
        self._groups = dict(groups or {})
        self._wash = wash_sales
        self._lots: dict[tuple[str, str], list[TaxLot]] = {}
        self._keys: dict[str, set[tuple[str, str]]] = {}  # group -> (account, ticker) keys with lots
        self._dispositions: list[Disposition] = []
        self._pending: dict[str, list[_PendingLoss]] = {}
        self._last: dict[str, date] = {}
        self._seq = 0
        self._net_proceeds = ZERO

    # ---- public API -------------------------------------------------------------------------
    def book(self, txn: Transaction) -> list[Disposition]:
        """Book one purchase or sale; return the dispositions a sale creates.

        Raises
        ------
        TaxLotError
            If the transaction is earlier than one already booked for its group, sells more
            shares than the account holds, or names a lot that is not open.
        """
        self._check_order(txn.ticker, txn.trade_date, txn.txn_id or txn.side)
        self._seq += 1
        if txn.side == "buy":
            self._buy(txn)
            return []
        return self._sell(txn)

    def split(self, split: Split) -> None:
        """Apply a stock split to every open lot of the ticker (basis unchanged, shares × ratio)."""
        self._check_order(split.ticker, split.effective, f"split of {split.ticker}")
        for (_, ticker), lots in self._lots.items():
            if ticker == split.ticker:
                for lot in lots:
                    lot.quantity = mul(lot.quantity, split.ratio)
        for pending in self._pending.get(self._group(split.ticker), []):
            if pending.disposition.ticker == split.ticker:
                pending.shares = mul(pending.shares, split.ratio)

    def dispositions(self) -> list[Disposition]:
        """Every disposition so far, in the order of the sales."""
        return list(self._dispositions)

    def open_lots(self, account: str | None = None, ticker: str | None = None) -> list[TaxLot]:
        """Open lots (optionally of one account and/or ticker), in purchase order."""
        out = [lot for (a, t), lots in self._lots.items() for lot in lots
               if (account is None or a == account) and (ticker is None or t == ticker)]
        return sorted(out, key=lambda lot: (lot.purchased, lot.seq, lot.lot_id))

    def position(self, account: str, ticker: str) -> Decimal:
        """Shares held of ``ticker`` in ``account``."""
        return sum((lot.quantity for lot in self._lots.get((account, ticker), [])), ZERO)

    def deferred_losses(self) -> Decimal:
        """Disallowed losses now sitting in the basis of open lots (positive)."""
        return sum((lot.adjustment for lots in self._lots.values() for lot in lots), ZERO)

    def pending_losses(self) -> Decimal:
        """Loss of recent sales that a purchase in the next 30 days would still wash."""
        return sum((p.loss for ps in self._pending.values() for p in ps), ZERO)

    @property
    def net_proceeds(self) -> Decimal:
        """Sum of every sale's net proceeds."""
        return self._net_proceeds

    # ---- purchases ---------------------------------------------------------------------------
    def _buy(self, txn: Transaction) -> None:
        origin = txn.txn_id or f"{txn.account}:{txn.ticker}:{self._seq}"
        lot = TaxLot(origin, origin, txn.account, txn.ticker, txn.trade_date, txn.trade_date, txn.quantity,
                     txn.gross + txn.fees, seq=self._seq)
        self._lots.setdefault((txn.account, txn.ticker), []).append(lot)
        self._keys.setdefault(self._group(txn.ticker), set()).add((txn.account, txn.ticker))
        if self._wash:
            self._wash_with_purchase(lot)

    def _wash_with_purchase(self, lot: TaxLot) -> None:
        """Match a new purchase with losses of the last 30 days, earliest loss first."""
        group = self._group(lot.ticker)
        pending = [p for p in self._pending.get(group, []) if p.disposition.sold >= lot.purchased - WINDOW]
        for p in pending:
            if lot.replacement or lot.quantity == 0:
                break
            self._match(p, lot)
        self._pending[group] = [p for p in pending if p.shares > 0]

    # ---- sales -------------------------------------------------------------------------------
    def _sell(self, txn: Transaction) -> list[Disposition]:
        key = (txn.account, txn.ticker)
        lots = self._lots.get(key, [])
        held = sum((lot.quantity for lot in lots), ZERO)
        name = txn.txn_id or f"sale of {txn.ticker} on {txn.trade_date}"
        if txn.quantity > held:
            raise TaxLotError(f"{name}: sells {txn.quantity} {txn.ticker} in account {txn.account} "
                              f"but only {held} are held on {txn.trade_date}")
        plan = self._plan(txn, lots, name)
        net = txn.gross - txn.fees
        self._net_proceeds += net
        out: list[Disposition] = []
        left_shares, left_net = txn.quantity, net
        for lot, shares in plan:
            piece = lot.take(shares)
            proceeds = prorata(left_net, shares, left_shares)
            left_shares -= shares
            left_net -= proceeds
            out.append(Disposition(txn.account, txn.ticker, shares, piece.purchased, piece.acquired,
                                   txn.trade_date, proceeds, piece.cost, piece.adjustment, piece.lot_id,
                                   piece.origin, piece.seq, txn.txn_id or name, self._seq))
        self._lots[key] = [lot for lot in lots if lot.quantity > 0]
        if not self._lots[key]:
            del self._lots[key]
            self._keys[self._group(txn.ticker)].discard(key)
        self._dispositions.extend(out)
        if self._wash:
            for d in out:
                if d.loss > 0:
                    self._wash_with_held(d)
        return out

    def _plan(self, txn: Transaction, lots: list[TaxLot], name: str) -> list[tuple[TaxLot, Decimal]]:
        """Which lots a sale relieves and how many shares of each (nothing is changed yet)."""
        if txn.lots:
            plan: list[tuple[TaxLot, Decimal]] = []
            for origin, want in txn.lots:
                pieces = sorted((lot for lot in lots if lot.origin == origin), key=lambda lot: lot.lot_id)
                if sum((lot.quantity for lot in pieces), ZERO) < want:
                    raise TaxLotError(f"{name}: lot {origin!r} does not hold {want} open shares of {txn.ticker} "
                                      f"in account {txn.account}")
                for lot in pieces:
                    if want <= 0:
                        break
                    take = min(lot.quantity, want)
                    plan.append((lot, take))
                    want -= take
            return plan
        order = relief_order(lots, self.method, txn.trade_date, (txn.gross - txn.fees) / txn.quantity)
        plan, need = [], txn.quantity
        for lot in order:
            if need <= 0:
                break
            take = min(lot.quantity, need)
            plan.append((lot, take))
            need -= take
        return plan

    def _wash_with_held(self, d: Disposition) -> None:
        """Match a loss with shares bought in the 30 days before the sale and still held."""
        group = self._group(d.ticker)
        pending = _PendingLoss(d, d.quantity, d.loss)
        candidates = sorted(
            (lot for key in self._keys.get(group, ()) for lot in self._lots[key]
             if not lot.replacement and lot.origin != d.origin
             and d.sold - WINDOW <= lot.purchased <= d.sold and (lot.purchased, lot.seq) > (d.purchased, d.lot_seq)),
            key=lambda lot: (lot.purchased, lot.seq, lot.lot_id))
        for lot in candidates:
            if pending.shares == 0:
                break
            self._match(pending, lot)
        if pending.shares > 0:
            self._pending.setdefault(group, []).append(pending)

    def _match(self, pending: _PendingLoss, lot: TaxLot) -> None:
        """Wash ``min(pending shares, lot shares)`` shares: disallow their loss, move it into the lot."""
        k = min(pending.shares, lot.quantity)
        if k < lot.quantity:  # split the lot: the matched piece becomes its own lot
            piece = lot.take(k)
            lots = self._lots[(lot.account, lot.ticker)]
            lots.insert(next(i for i, x in enumerate(lots) if x is lot), piece)
        else:
            piece = lot
        d = pending.disposition
        disallowed = prorata(pending.loss, k, pending.shares)
        pending.shares -= k
        pending.loss -= disallowed
        d.disallowed += disallowed
        d.replacements.append(piece.lot_id)
        piece.adjustment += disallowed
        piece.acquired = tacked(piece.purchased, d.acquired, d.sold)
        piece.replacement = True

    # ---- helpers -----------------------------------------------------------------------------
    def _group(self, ticker: str) -> str:
        return self._groups.get(ticker, ticker)

    def _check_order(self, ticker: str, day: date, what: str) -> None:
        group = self._group(ticker)
        last = self._last.get(group)
        if last is not None and day < last:
            raise TaxLotError(f"{what}: dated {day}, earlier than {last} already booked for {ticker}; "
                              "book transactions in date order")
        self._last[group] = day


def build_ledger(transactions: Iterable[Transaction], splits: Iterable[Split] = (), method: Method = "fifo",
                 groups: Mapping[str, str] | None = None, wash_sales: bool = True) -> TaxLedger:
    """Book ``transactions`` and ``splits`` in date order (stable; a split comes before that day's trades)."""
    ledger = TaxLedger(method, groups, wash_sales)
    events: list[tuple[date, int, int, Transaction | Split]] = [
        (s.effective, 0, i, s) for i, s in enumerate(splits)]
    events += [(t.trade_date, 1, i, t) for i, t in enumerate(transactions)]
    for _, _, _, event in sorted(events, key=lambda e: e[:3]):
        if isinstance(event, Split):
            ledger.split(event)
        else:
            ledger.book(event)
    return ledger
