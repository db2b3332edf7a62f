"""Tax history in the database: imported broker fills and splits, plus tftrade's own trades.

An import is checked whole before anything is written: the new rows together with what is
stored must book without error (no sale of shares not held, nothing out of order), and then
go in with one transaction. Re-importing a file adds nothing (rows are keyed by their id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from tftrade.compliance.errors import TaxLotError
from tftrade.compliance.ledger import TaxLedger, build_ledger
from tftrade.compliance.money import ZERO
from tftrade.compliance.transactions import SIDE_OF_ACTION, AccountType, Method, Split, Transaction
from tftrade.store.engine import upsert_insert
from tftrade.store.schema import trade_executions
from tftrade.store.schema_compliance import tax_accounts, tax_splits, tax_transactions

OWN_ACCOUNT = "tftrade"
_NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class TaxHistory:
    """Everything the tax engine books, and what it had to leave out."""

    transactions: tuple[Transaction, ...]
    splits: tuple[Split, ...]
    notes: tuple[str, ...]
    account_types: Mapping[str, AccountType] = field(default_factory=dict)
    """Account -> ``taxable`` or ``ira`` (an account not listed is taxable)."""

    @property
    def ira_accounts(self) -> frozenset[str]:
        """The accounts that are IRAs."""
        return frozenset(a for a, kind in self.account_types.items() if kind == "ira")

    def ledger(self, method: Method = "fifo", groups: dict[str, str] | None = None) -> TaxLedger:
        """Book the history (in date order), IRA accounts as such."""
        return build_ledger(self.transactions, self.splits, method, groups, ira_accounts=self.ira_accounts)


def load_history(engine: Engine, include_own: bool = True) -> TaxHistory:
    """Stored broker history, splits and (``include_own``) tftrade's own long trades as account ``tftrade``."""
    with engine.connect() as conn:
        txns = [_txn(r) for r in conn.execute(select(tax_transactions).order_by(tax_transactions.c.id))]
        splits = [Split(r.ticker, r.effective, Decimal(r.ratio)) for r in conn.execute(select(tax_splits))]
        notes: list[str] = []
        accounts = {r.account: r.account_type for r in conn.execute(select(tax_accounts))}
        if include_own:
            txns += _own_trades(conn)
    return TaxHistory(tuple(txns), tuple(splits), tuple(notes), accounts)


def _txn(r: Any) -> Transaction:
    lots = tuple((i, Decimal(q)) for i, _, q in (p.rpartition(":") for p in (r.lots or "").split(";") if p))
    return Transaction(r.account, r.ticker, r.trade_date, r.side, Decimal(r.quantity), Decimal(r.price),
                       Decimal(r.fees), r.txn_id, lots)


def _own_trades(conn: Any) -> list[Transaction]:
    out = []
    q = select(trade_executions).order_by(trade_executions.c.timestamp, trade_executions.c.id)
    for r in conn.execute(q):
        ts = r.timestamp
        day: date = ts.astimezone(_NEW_YORK).date() if ts.tzinfo else ts.date()
        out.append(Transaction(OWN_ACCOUNT, r.ticker, day, SIDE_OF_ACTION[r.action],
                               Decimal(abs(int(r.quantity))), Decimal(r.price), _decimal(r.commission), f"te-{r.id}"))
    return out


def _decimal(value: Any) -> Decimal:
    """A stored commission as an exact Decimal (SQLite hands back REAL for NUMERIC: taken by its repr, 4 places)."""
    if value is None:
        return ZERO
    return Decimal(repr(value)).quantize(Decimal("0.0001")) if isinstance(value, float) else Decimal(value)


def import_history(engine: Engine, transactions: Sequence[Transaction], splits: Sequence[Split],
                   source: str, account_types: Mapping[str, AccountType] | None = None) -> dict[str, int]:
    """Check and store new fills, splits and account types in one transaction; return counts.

    Raises
    ------
    TaxLotError
        If the history with the new rows does not book (sale of more shares than held, a
        cover of more shares than sold short, a specific lot not open, a file older than what
        is stored), or an account's type would change; nothing is written.
    """
    stored = load_history(engine)
    new_types = _new_types(stored, account_types or {})
    known = {(t.account, t.txn_id) for t in stored.transactions}
    new = [t for t in transactions if (t.account, t.txn_id) not in known]
    known_splits = {(s.ticker, s.effective): s.ratio for s in stored.splits}
    for s in splits:
        if (s.ticker, s.effective) in known_splits and known_splits[(s.ticker, s.effective)] != s.ratio:
            raise TaxLotError(f"split of {s.ticker} on {s.effective}: ratio {s.ratio} differs from the stored "
                              f"{known_splits[(s.ticker, s.effective)]}")
    new_splits = [s for s in splits if (s.ticker, s.effective) not in known_splits]
    _check_not_older(stored.transactions, new)
    iras = stored.ira_accounts | {a for a, kind in new_types.items() if kind == "ira"}
    build_ledger([*stored.transactions, *new], [*stored.splits, *new_splits], ira_accounts=iras)  # raises if it fails
    with engine.begin() as conn:
        if new_types:
            conn.execute(tax_accounts.insert(), [{"account": a, "account_type": kind, "source": source[:512]}
                                                 for a, kind in sorted(new_types.items())])
        if new:
            conn.execute(tax_transactions.insert(), [{
                "txn_id": t.txn_id, "account": t.account, "ticker": t.ticker, "trade_date": t.trade_date,
                "side": t.side, "quantity": t.quantity, "price": t.price, "fees": t.fees,
                "lots": ";".join(f"{i}:{q}" for i, q in t.lots) or None, "source": source[:512]} for t in new])
        if new_splits:
            ins = upsert_insert(conn)(tax_splits)
            conn.execute(ins.on_conflict_do_nothing(), [
                {"ticker": s.ticker, "effective": s.effective, "ratio": s.ratio, "source": source[:512]}
                for s in new_splits])
    return {"read": len(transactions), "inserted": len(new), "duplicates": len(transactions) - len(new),
            "splits_read": len(splits), "splits_inserted": len(new_splits), "accounts_typed": len(new_types)}


def _new_types(stored: TaxHistory, types: Mapping[str, AccountType]) -> dict[str, AccountType]:
    """Types to store: refused if one differs from the stored type, or would retype an account with stored fills."""
    has_fills = {t.account for t in stored.transactions}
    out: dict[str, AccountType] = {}
    for account, kind in types.items():
        known = stored.account_types.get(account)
        if known == kind:
            continue
        if known is not None or (account in has_fills and kind != "taxable"):
            was = known or "taxable (its stored fills were booked so)"
            raise TaxLotError(f"account {account} is {was}; it cannot become {kind} (that would change the tax "
                              "of trades already reported)")
        out[account] = kind
    return out


def _check_not_older(stored: Sequence[Transaction], new: Sequence[Transaction]) -> None:
    latest: dict[tuple[str, str], date] = {}
    for t in stored:
        key = (t.account, t.ticker)
        latest[key] = max(latest.get(key, t.trade_date), t.trade_date)
    for t in new:
        last = latest.get((t.account, t.ticker))
        if last is not None and t.trade_date < last:
            raise TaxLotError(f"{t.txn_id}: {t.ticker} trade dated {t.trade_date} in account {t.account} is older than "
                              f"{last}, already imported; fills must arrive in date order")


def count_transactions(engine: Engine) -> int:
    """Stored imported fills."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tax_transactions)).scalar_one())
