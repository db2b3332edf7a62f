"""Reading a securities master file (e.g. S&P 500 constituents: Symbol, Name, Sector)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tftrade.core.errors import DataError
from tftrade.core.types import Security
from tftrade.data.ticker_changes import RENAMED

_ALIASES = {
    "ticker": ("ticker", "symbol"),
    "name": ("name", "security", "company"),
    "sector": ("sector", "gics sector", "gics_sector"),
    "market_cap": ("market_cap", "marketcap", "market cap"),
}


def read_securities_file(path: str | Path) -> list[Security]:
    """Read a CSV of securities; ticker and sector are required, name and market cap optional.

    A company listed under a new ticker whose former ticker (:data:`~tftrade.data.ticker_changes.RENAMED`)
    is not in the file is also returned under the former one, with the same sector, so price
    history kept under the old ticker finds its sector.

    Raises
    ------
    DataError
        If the file is missing or has no ticker or sector column.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    frame = pd.read_csv(p)
    lower = {c.strip().lower(): c for c in frame.columns}
    cols = {f: next((lower[a] for a in names if a in lower), None) for f, names in _ALIASES.items()}
    for required in ("ticker", "sector"):
        if cols[required] is None:
            raise DataError(f"{p}: no {required} column; found {list(frame.columns)}")
    out = []
    for row in frame.to_dict("records"):
        ticker = str(row[cols["ticker"]]).strip().upper()
        cap = row.get(cols["market_cap"]) if cols["market_cap"] else None
        out.append(Security(ticker=ticker, name=str(row[cols["name"]]) if cols["name"] else ticker,
                            sector=str(row[cols["sector"]]), market_cap=float(cap) if cap is not None and cap == cap
                            else None))
    return out + _former_tickers(out)


def _former_tickers(items: list[Security]) -> list[Security]:
    by_ticker = {s.ticker: s for s in items}
    return [Security(ticker=old, name=f"{by_ticker[new].name} (ticker {old}, now {new})",
                     sector=by_ticker[new].sector, market_cap=by_ticker[new].market_cap)
            for old, new in RENAMED.items() if new in by_ticker and old not in by_ticker]
