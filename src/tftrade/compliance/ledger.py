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
from typing import TypeVar

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.holding import tacked, term
from tftrade.compliance.money import ZERO, mul, prorata
from tftrade.compliance.tax_lots import Disposition, ShortLot, TaxLot, relief_order
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
    ira_accounts
        Accounts that are IRAs: their sales are not reported (no gain or loss is recognised
        in them), and a purchase in one that washes a taxable account's loss disallows it for
        good, with no basis increase (Rev. Rul. 2008-5).

    Transactions and splits must be booked in date order within a group; a transaction
    that fails validation changes nothing.
    """

    def __init__(self, method: Method = "fifo", groups: Mapping[str, str] | None = None,
                 wash_sales: bool = True, ira_accounts: Iterable[str] = ()) -> None:
        self.method: Method = method
        self._groups = dict(groups or {})
        self._wash = wash_sales
        self._ira = frozenset(ira_accounts)
        self._shorts: dict[tuple[str, str], list[ShortLot]] = {}
        self._pending_short: dict[str, list[_PendingLoss]] = {}
        self._capacity: dict[str, Decimal] = {}  # open short origin -> shares it may still suspend (§1233(b)(2))
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
        self._check_short_side(txn)
        self._check_order(txn.ticker, txn.trade_date, txn.txn_id or txn.side)
        self._seq += 1
        out: list[Disposition] = []
        if txn.side == "buy":
            self._buy(txn)
        elif txn.side == "short":
            self._short(txn)
        elif txn.side == "cover":
            out = self._cover(txn)
        else:
            out = self._sell(txn)
        self._last[self._group(txn.ticker)] = txn.trade_date  # only once booked: a refused one changes nothing
        return out

    def split(self, split: Split) -> None:
        """Apply a stock split to every open lot of the ticker (basis unchanged, shares × ratio)."""
        self._check_order(split.ticker, split.effective, f"split of {split.ticker}")
        self._last[self._group(split.ticker)] = split.effective
        for (_, ticker), lots in self._lots.items():
            if ticker == split.ticker:
                for lot in lots:
                    lot.quantity = mul(lot.quantity, split.ratio)
        for (_, ticker), shorts in self._shorts.items():
            if ticker == split.ticker:
                for short in shorts:
                    short.quantity = mul(short.quantity, split.ratio)
                    if short.origin in self._capacity:
                        self._capacity[short.origin] = mul(self._capacity[short.origin], split.ratio)
        group = self._group(split.ticker)
        for pending in (*self._pending.get(group, []), *self._pending_short.get(group, [])):
            if pending.disposition.ticker == split.ticker:
                pending.shares = mul(pending.shares, split.ratio)

    def dispositions(self) -> list[Disposition]:
        """Every disposition so far, in the order of the sales."""
        return list(self._dispositions)

    def taxable_dispositions(self) -> list[Disposition]:
        """The dispositions a tax return reports: those of accounts that are not IRAs."""
        return [d for d in self._dispositions if d.account not in self._ira]

    def open_short_lots(self, account: str | None = None, ticker: str | None = None) -> list[ShortLot]:
        """Open short sales (optionally of one account and/or ticker), in the order they were opened."""
        out = [lot for (a, t), lots in self._shorts.items() for lot in lots
               if (account is None or a == account) and (ticker is None or t == ticker)]
        return sorted(out, key=lambda lot: (lot.opened, lot.seq, lot.lot_id))

    def short_position(self, account: str, ticker: str) -> Decimal:
        """Shares of ``ticker`` sold short and not yet covered in ``account``."""
        return sum((lot.quantity for lot in self._shorts.get((account, ticker), [])), ZERO)

    def open_lots(self, account: str | None = None, ticker: str | None = None) -> list[TaxLot]:
        """Open lots (optionally of one account and/or ticker), in purchase order."""
        out = [lot for (a, t), lots in self._lots.items() for lot in lots
               if (account is None or a == account) and (ticker is None or t == ticker)]
        return sorted(out, key=lambda lot: (lot.purchased, lot.seq, lot.lot_id))

    def position(self, account: str, ticker: str) -> Decimal:
        """Shares held of ``ticker`` in ``account``."""
        return sum((lot.quantity for lot in self._lots.get((account, ticker), [])), ZERO)

    def deferred_losses(self) -> Decimal:
        """Disallowed losses now sitting in the basis of open lots, long or short (positive)."""
        return (sum((lot.adjustment for lots in self._lots.values() for lot in lots), ZERO)
                + sum((lot.adjustment for lots in self._shorts.values() for lot in lots), ZERO))

    def pending_losses(self) -> Decimal:
        """Loss of recent sales (and covers) that a purchase (a short sale) in the next 30 days would still wash."""
        return sum((p.loss for pending in (self._pending, self._pending_short) for ps in pending.values()
                    for p in ps), ZERO)

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
        if txn.account not in self._ira:
            self._suspend_new(lot)
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
            hint = "; a short sale is side 'short'" if held == 0 else ""
            raise TaxLotError(f"{name}: sells {txn.quantity} {txn.ticker} in account {txn.account} "
                              f"but only {held} are held on {txn.trade_date}{hint}")
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
            # a lot held when identical stock was sold short starts its holding period when sold (§1233(b)(2))
            acquired = txn.trade_date if piece.suspended_by else piece.acquired
            out.append(Disposition(txn.account, txn.ticker, shares, piece.purchased, acquired,
                                   txn.trade_date, proceeds, piece.cost, piece.adjustment, piece.lot_id,
                                   piece.origin, piece.seq, txn.txn_id or name, self._seq))
        self._lots[key] = [lot for lot in lots if lot.quantity > 0]
        if not self._lots[key]:
            del self._lots[key]
            self._keys[self._group(txn.ticker)].discard(key)
        self._dispositions.extend(out)
        if self._wash and txn.account not in self._ira:  # an IRA's sales recognise no loss to wash
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
        piece, disallowed = _wash(pending, lot, self._lots[(lot.account, lot.ticker)])
        d = pending.disposition
        if piece.account in self._ira:  # Rev. Rul. 2008-5: disallowed, and no basis increase in the IRA
            d.permanent += disallowed
            return
        piece.adjustment += disallowed
        piece.acquired = tacked(piece.purchased, d.acquired, d.sold)

    # ---- short sales (IRC §1233; Publication 550, "Short Sales") -----------------------------
    def _short(self, txn: Transaction) -> None:
        origin = txn.txn_id or f"{txn.account}:{txn.ticker}:{self._seq}"
        lot = ShortLot(origin, origin, txn.account, txn.ticker, txn.trade_date, txn.quantity, txn.gross - txn.fees,
                       seq=self._seq)
        long_term = self._held(txn.ticker, txn.trade_date, "long")
        shorts = self._shorts.setdefault((txn.account, txn.ticker), [])
        marked = min(long_term, txn.quantity)  # §1233(d): a loss on these shares is long-term
        if marked > 0:
            piece = lot.take(marked) if marked < lot.quantity else lot
            piece.long_term_loss = True
            if piece is not lot:
                shorts.append(piece)
        if lot.quantity > 0:
            shorts.append(lot)
        self._capacity[origin] = txn.quantity
        self._suspend_held(origin, txn.ticker, txn.trade_date)
        if self._wash:
            for short in [x for x in shorts if x.origin == origin]:
                self._wash_short_with_new(short)

    def _held(self, ticker: str, on: date, which: str) -> Decimal:
        """Shares of the group held in taxable accounts, not suspended, long- or short-term on ``on``."""
        return sum((lot.quantity for key in self._keys.get(self._group(ticker), ()) for lot in self._lots[key]
                    if key[0] not in self._ira and not lot.suspended_by and term(lot.acquired, on) == which), ZERO)

    def _suspend_held(self, origin: str, ticker: str, on: date) -> None:
        """§1233(b)(2): identical stock held a year or less when sold short starts its holding period at the cover."""
        lots = sorted((lot for key in self._keys.get(self._group(ticker), ()) for lot in self._lots[key]
                       if key[0] not in self._ira and not lot.suspended_by and term(lot.acquired, on) == "short"),
                      key=lambda lot: (lot.purchased, lot.seq, lot.lot_id))
        for lot in lots:
            self._suspend(lot, origin)

    def _suspend_new(self, lot: TaxLot) -> None:
        """§1233(b)(2): stock bought while identical stock is sold short starts its holding period at the cover."""
        for key in sorted(k for k in self._shorts if self._group(k[1]) == self._group(lot.ticker)):
            for origin in dict.fromkeys(short.origin for short in self._shorts[key]):
                if lot.suspended_by:
                    return
                self._suspend(lot, origin)

    def _suspend(self, lot: TaxLot, origin: str) -> None:
        room = self._capacity.get(origin, ZERO)
        if room <= 0:
            return
        if lot.quantity > room:  # the rule reaches only as many shares as were sold short
            piece = lot.take(lot.quantity - room)
            lots = self._lots[(lot.account, lot.ticker)]
            lots.insert(next(i for i, x in enumerate(lots) if x is lot) + 1, piece)
        lot.suspended_by = origin
        self._capacity[origin] = room - lot.quantity

    def _cover(self, txn: Transaction) -> list[Disposition]:
        key = (txn.account, txn.ticker)
        shorts = self._shorts.get(key, [])
        short = sum((lot.quantity for lot in shorts), ZERO)
        name = txn.txn_id or f"cover of {txn.ticker} on {txn.trade_date}"
        if txn.quantity > short:
            raise TaxLotError(f"{name}: covers {txn.quantity} {txn.ticker} in account {txn.account} "
                              f"but only {short} are sold short on {txn.trade_date}")
        cost_total = txn.gross + txn.fees
        out: list[Disposition] = []
        left_shares, left_cost, need = txn.quantity, cost_total, txn.quantity
        for lot in sorted(shorts, key=lambda x: (x.opened, x.seq, x.lot_id)):  # first in, first out
            if need <= 0:
                break
            shares = min(lot.quantity, need)
            need -= shares
            piece = lot.take(shares)
            cost = prorata(left_cost, shares, left_shares)
            left_shares -= shares
            left_cost -= cost
            loss = piece.proceeds < cost + piece.adjustment
            out.append(Disposition(txn.account, txn.ticker, shares, txn.trade_date, txn.trade_date, txn.trade_date,
                                   piece.proceeds, cost, piece.adjustment, piece.lot_id, piece.origin, piece.seq,
                                   txn.txn_id or name, self._seq, short_sale=True, opened=piece.opened,
                                   holding="long" if loss and piece.long_term_loss else "short"))
            self._release(piece.origin, shares, txn.trade_date)
        self._shorts[key] = [lot for lot in shorts if lot.quantity > 0]
        if not self._shorts[key]:
            del self._shorts[key]
        self._net_proceeds += sum((d.proceeds for d in out), ZERO)
        self._dispositions.extend(out)
        if self._wash:
            for d in out:
                if d.loss > 0:
                    self._wash_short_with_open(d)
        return out

    def _release(self, origin: str, shares: Decimal, on: date) -> None:
        """A cover of ``shares`` of short sale ``origin`` starts the holding period of as many suspended shares."""
        left = shares
        for lots in self._lots.values():
            for lot in list(lots):
                if left <= 0:
                    return
                if lot.suspended_by != origin:
                    continue
                if lot.quantity > left:
                    piece = lot.take(left)
                    lots.insert(next(i for i, x in enumerate(lots) if x is lot), piece)
                    lot = piece
                lot.suspended_by, lot.acquired = "", on
                left -= lot.quantity
        if not any(short.origin == origin for shorts in self._shorts.values() for short in shorts
                   if short.quantity > 0):
            self._capacity.pop(origin, None)

    def _wash_short_with_open(self, d: Disposition) -> None:
        """A cover's loss is washed by another short sale of identical stock in the 30 days before (still open)."""
        group = self._group(d.ticker)
        pending = _PendingLoss(d, d.quantity, d.loss)
        assert d.opened is not None
        candidates = sorted(
            (lot for (account, ticker), lots in self._shorts.items() if self._group(ticker) == group
             for lot in lots if account not in self._ira and not lot.replacement and lot.origin != d.origin
             and d.sold - WINDOW <= lot.opened <= d.sold and (lot.opened, lot.seq) > (d.opened, d.lot_seq)),
            key=lambda lot: (lot.opened, lot.seq, lot.lot_id))
        for lot in candidates:
            if pending.shares == 0:
                break
            self._match_short(pending, lot)
        if pending.shares > 0:
            self._pending_short.setdefault(group, []).append(pending)

    def _wash_short_with_new(self, lot: ShortLot) -> None:
        """A new short sale washes the losses of covers in the 30 days before it, earliest first."""
        group = self._group(lot.ticker)
        pending = [p for p in self._pending_short.get(group, []) if p.disposition.sold >= lot.opened - WINDOW]
        for p in pending:
            if lot.replacement or lot.quantity == 0:
                break
            self._match_short(p, lot)
        self._pending_short[group] = [p for p in pending if p.shares > 0]

    def _match_short(self, pending: _PendingLoss, lot: ShortLot) -> None:
        """Disallow the matched shares' loss and add it to the cost of closing the replacement short sale."""
        piece, disallowed = _wash(pending, lot, self._shorts[(lot.account, lot.ticker)])
        piece.adjustment += disallowed

    def _check_short_side(self, txn: Transaction) -> None:
        if txn.side in ("short", "cover") and txn.account in self._ira:
            raise TaxLotError(f"{txn.txn_id or txn.side + ' ' + txn.ticker}: account {txn.account} is an IRA; "
                              "short sales in an IRA are not supported")

    # ---- helpers -----------------------------------------------------------------------------
    def _group(self, ticker: str) -> str:
        return self._groups.get(ticker, ticker)

    def _check_order(self, ticker: str, day: date, what: str) -> None:
        group = self._group(ticker)
        last = self._last.get(group)
        if last is not None and day < last:
            raise TaxLotError(f"{what}: dated {day}, earlier than {last} already booked for {ticker}; "
                              "book transactions in date order")


def build_ledger(transactions: Iterable[Transaction], splits: Iterable[Split] = (), method: Method = "fifo",
                 groups: Mapping[str, str] | None = None, wash_sales: bool = True,
                 ira_accounts: Iterable[str] = ()) -> TaxLedger:
    """Book ``transactions`` and ``splits`` in date order (stable; a split comes before that day's trades)."""
    ledger = TaxLedger(method, groups, wash_sales, ira_accounts)
    events: list[tuple[date, int, int, Transaction | Split]] = [
        (s.effective, 0, i, s) for i, s in enumerate(splits)]
    events += [(t.trade_date, 1, i, t) for i, t in enumerate(transactions)]
    for _, _, _, event in sorted(events, key=lambda e: e[:3]):
        if isinstance(event, Split):
            ledger.split(event)
        else:
            ledger.book(event)
    return ledger


_Lot = TypeVar("_Lot", TaxLot, ShortLot)


def _wash(pending: _PendingLoss, lot: _Lot, book: list[_Lot]) -> tuple[_Lot, Decimal]:
    """Match ``min(pending shares, lot shares)``: split the matched piece off ``lot`` (kept in ``book``
    just before it), move that share of the pending loss into the disposition's disallowed amount and
    mark the piece a replacement; return the piece and the loss disallowed."""
    k = min(pending.shares, lot.quantity)
    if k < lot.quantity:
        piece = lot.take(k)
        book.insert(next(i for i, x in enumerate(book) if x is lot), piece)
    else:
        piece = lot
    d = pending.disposition
    disallowed = prorata(pending.loss, k, pending.shares)
    pending.shares -= k
    pending.loss -= disallowed
    d.disallowed += disallowed
    d.replacements.append(piece.lot_id)
    piece.replacement = True
    return piece, disallowed
