"""Read broker history: a CSV of fills and a CSV of stock splits, exactly (no float anywhere).

Fills: a header row with ``date, ticker, side, quantity, price, fees, account`` (any order,
any case; ``fees`` and ``account`` may be absent: 0 and ``--account``), optional ``id``
(the broker's trade id), ``lots`` (specific identification for a sale:
``"b1:50;b7:30"`` = 50 shares of purchase ``b1`` and 30 of ``b7``) and ``account_type``
(``taxable`` or ``ira``). Dates are ``YYYY-MM-DD`` or ``MM/DD/YYYY``; sides ``buy``/``sell``
(or ``B``/``S``), ``short`` (``sell short``, ``SS``: a short sale) and ``cover`` (``buy to
cover``, ``BTC``). Within the file each account's trades in a ticker must be in date order.

Splits: ``date, ticker, ratio`` (new shares per old: ``2`` for 2-for-1, ``0.1`` for
1-for-10), or ``date, ticker, new, old``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from tftrade.compliance.errors import TaxImportError, TaxLotError
from tftrade.compliance.money import ZERO, parse_decimal
from tftrade.compliance.transactions import AccountType, Split, Transaction

_SIDES = {"buy": "buy", "b": "buy", "bought": "buy", "sell": "sell", "s": "sell", "sold": "sell",
          "short": "short", "ss": "short", "sell short": "short", "short sale": "short", "sell_short": "short",
          "cover": "cover", "bc": "cover", "btc": "cover", "buy to cover": "cover", "buy_to_cover": "cover"}
_TYPES: dict[str, AccountType] = {"taxable": "taxable", "ira": "ira", "roth": "ira", "roth ira": "ira",
                                  "traditional ira": "ira"}


def parse_date(text: str, where: str) -> date:
    """``YYYY-MM-DD`` or ``MM/DD/YYYY`` as a date."""
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise TaxImportError(f"{where}: date {text!r} is not YYYY-MM-DD or MM/DD/YYYY")


def _rows(path: Path, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise TaxImportError(f"cannot read {path}: {e.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = {h.strip().lower() for h in reader.fieldnames or []}
        missing = required - header
        if missing:
            raise TaxImportError(f"{path}: missing column(s) {', '.join(sorted(missing))} "
                                 f"(has {', '.join(sorted(header)) or 'no header'})")
        for raw in reader:  # the row is the file's line (DictReader skips blank lines; counting records would not)
            n = reader.line_num
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            if any(row.values()):
                yield n, row


def read_fills(path: Path, default_account: str = "default", rows: dict[str, int] | None = None,
               types: dict[str, AccountType] | None = None) -> list[Transaction]:
    """Parse a fills CSV into transactions (``rows``, when given, gets each transaction's row number;
    ``types`` the ``account_type`` column's value per account).

    Raises
    ------
    TaxImportError
        Naming the file, the row and the field for anything malformed or out of order, or an
        account given two types.
    """
    out: list[Transaction] = []
    last: dict[tuple[str, str], date] = {}
    seen: dict[str, int] = {}
    for n, row in _rows(path, {"date", "ticker", "side", "quantity", "price"}):
        where = f"{path.name} row {n}"
        try:
            txn = _fill(row, where, default_account, seen)
        except (ValueError, TaxLotError) as e:
            raise TaxImportError(f"{where}: {e}") from None
        if row.get("account_type") and types is not None:
            _account_type(row["account_type"], txn.account, where, types)
        key = (txn.account, txn.ticker)
        if key in last and txn.trade_date < last[key]:
            raise TaxImportError(f"{where}: {txn.ticker} trade dated {txn.trade_date} comes after one dated "
                                 f"{last[key]} in account {txn.account}; fills must be in date order")
        last[key] = txn.trade_date
        out.append(txn)
        if rows is not None:
            rows[txn.txn_id] = n
    if not out:
        raise TaxImportError(f"{path}: no fills")
    return out


def parse_account_type(text: str, where: str) -> AccountType:
    """``taxable`` or ``ira`` (``roth``, ``roth ira``, ``traditional ira`` are IRAs), any case."""
    kind = _TYPES.get(text.strip().lower())
    if kind is None:
        raise TaxImportError(f"{where}: account type {text!r} is not taxable or ira")
    return kind


def _account_type(text: str, account: str, where: str, types: dict[str, AccountType]) -> None:
    kind = parse_account_type(text, where)
    if types.setdefault(account, kind) != kind:
        raise TaxImportError(f"{where}: account {account} is {kind} here but {types[account]} on an earlier row")


def locate(error: TaxLotError, path: Path, rows: dict[str, int]) -> TaxLotError:
    """A booking error about a fill of ``path`` said with its row (``fills.csv row 3: sells 20 AAA ...``)."""
    ident, sep, rest = str(error).partition(": ")
    if isinstance(error, TaxImportError) or not sep or ident not in rows:
        return error
    return TaxImportError(f"{path.name} row {rows[ident]}: {rest}")


def _fill(row: dict[str, str], where: str, default_account: str, seen: dict[str, int]) -> Transaction:
    side = _SIDES.get(row["side"].lower())
    if side is None:
        raise ValueError(f"side {row['side']!r} is not buy, sell, short or cover")
    account = row.get("account") or default_account
    fees = parse_decimal(row["fees"], "fees") if row.get("fees") else ZERO
    lots = tuple(_lot(part, where) for part in row.get("lots", "").split(";") if part.strip())
    ident = row.get("id", "")
    if not ident:  # stable id: the row's content and its occurrence number within the file
        content = "|".join(row.get(k, "") for k in ("date", "ticker", "side", "quantity", "price", "fees", "account"))
        seen[content] = seen.get(content, 0) + 1
        ident = "r-" + hashlib.sha256(f"{content}#{seen[content]}".encode()).hexdigest()[:16]
    return Transaction(account, row["ticker"].upper(), parse_date(row["date"], where), side,  # type: ignore[arg-type]
                       parse_decimal(row["quantity"], "quantity"), parse_decimal(row["price"], "price"), fees,
                       ident, lots)


def _lot(part: str, where: str) -> tuple[str, Decimal]:
    ident, sep, shares = part.strip().rpartition(":")
    if not sep or not ident:
        raise TaxImportError(f"{where}: lot {part!r} is not ID:SHARES")
    return ident, parse_decimal(shares, f"shares of lot {ident}")


def read_splits(path: Path) -> list[Split]:
    """Parse a splits CSV.

    Raises
    ------
    TaxImportError
        For a missing column, a malformed value or a ratio that is not positive (zero included).
    """
    out: list[Split] = []
    for n, row in _rows(path, {"date", "ticker"}):
        where = f"{path.name} row {n}"
        try:
            if row.get("ratio"):
                ratio = parse_decimal(row["ratio"], "ratio")
            elif row.get("new") and row.get("old"):
                old = parse_decimal(row["old"], "old")
                if old == 0:
                    raise ValueError("old share count 0 makes the ratio undefined")
                ratio = parse_decimal(row["new"], "new") / old
            else:
                raise ValueError("needs a ratio column, or new and old columns")
            out.append(Split(row["ticker"].upper(), parse_date(row["date"], where), ratio))
        except (ValueError, TaxLotError) as e:
            raise TaxImportError(f"{where}: {e}") from None
    if not out:
        raise TaxImportError(f"{path}: no splits")
    return out
