"""Bars as a PostgreSQL binary ``COPY`` stream, built with NumPy (no Python object per bar).

PostgreSQL's binary copy format is one record per row: the field count, then each field as
its byte length and its bytes, big-endian. Every field of a bar has a fixed width except the
ticker, so rows are grouped by ticker length and each group is one structured NumPy array
whose bytes are the records (row order inside a ``COPY`` does not matter to the table; inside
a group rows go by ticker then time, which spares the unique index ~15 % of its work).

Prices go as ``NUMERIC`` in its binary form, exactly: an integer count of 1/10,000 ticks is
``ticks // 10**4`` in three base-10,000 digits plus ``ticks % 10**4`` as the one fractional
digit (``weight`` 2, ``dscale`` 4); the server strips the leading zero digits. Times go as
``TIMESTAMPTZ`` (µs since 2000-01-01 UTC).

Examples
--------
>>> import numpy as np
>>> buf = copy_buffer(BarRows(np.array(["AB"], object), np.array([946_684_800_000_000]),
...                           {c: np.array([12_345]) for c in ("open", "high", "low", "close")},
...                           np.array([7]), np.array([False])), "1min", "t")
>>> bytes(buf[:11]) == COPY_SIGNATURE[:11], bytes(buf[-2:])
(True, b'\\xff\\xff')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

COPY_SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER: Final = b"\xff\xff"
PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix µs
COPY_COLUMNS: Final = ("ticker", "timeframe", "window_start", "open", "high", "low", "close", "volume",
                       "price_only", "source")
_PRICES: Final = ("open", "high", "low", "close")
_NBASE: Final = 10_000
_NUMERIC_NEG: Final = 0x4000
_MAX_TICKS: Final = _NBASE**4  # three integer digits and one fractional digit


@dataclass(frozen=True)
class BarRows:
    """Validated bars as columns: ticker, time (Unix µs), prices in 1/10,000 ticks, volume, price_only."""

    ticker: npt.NDArray[np.object_]
    ts_us: npt.NDArray[np.int64]
    prices: dict[str, npt.NDArray[np.int64]]
    volume: npt.NDArray[np.int64]
    price_only: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.ticker)

    def by_ticker_then_time(self) -> BarRows:
        """The rows ordered by ticker then time: one ticker's bars land together in the key index."""
        codes, _ = pd.factorize(self.ticker, sort=True)
        order = np.lexsort((self.ts_us, codes))
        return BarRows(self.ticker[order], self.ts_us[order], {k: v[order] for k, v in self.prices.items()},
                       self.volume[order], self.price_only[order])


def copy_buffer(rows: BarRows, timeframe: str, source: str) -> bytearray:
    """The whole binary ``COPY … (FORMAT binary)`` stream of ``rows`` for :data:`COPY_COLUMNS`.

    Raises
    ------
    ValueError
        If a price is beyond ``NUMERIC(18, 4)`` (validation rejects those first) or a ticker is not ASCII.
    """
    tickers = np.asarray(rows.ticker, dtype=np.bytes_)  # ASCII, as validated (else UnicodeEncodeError)
    lengths = np.char.str_len(tickers)
    out = bytearray(COPY_SIGNATURE)
    for length in np.unique(lengths).tolist():
        idx = np.flatnonzero(lengths == length)
        idx = idx[np.lexsort((rows.ts_us[idx], tickers[idx]))]  # one ticker's bars together: index-friendly
        out += _records(rows, idx, tickers, int(length), timeframe.encode(), source.encode()).view(np.uint8).data
    out += COPY_TRAILER
    return out


@lru_cache(maxsize=256)
def _record_dtype(ticker_len: int, tf_len: int, src_len: int) -> np.dtype[np.void]:
    fields: list[tuple[str, str]] = [("nfields", ">i2"), ("ticker_n", ">i4"), ("ticker", f"S{ticker_len}"),
                                     ("tf_n", ">i4"), ("tf", f"S{tf_len}"), ("ts_n", ">i4"), ("ts", ">i8")]
    for name in _PRICES:
        fields += [(f"{name}_n", ">i4"), (f"{name}_head", ">i2"), (f"{name}_weight", ">i2"),
                   (f"{name}_sign", ">i2"), (f"{name}_dscale", ">i2"), (f"{name}_digits", "(4,)>i2")]
    fields += [("volume_n", ">i4"), ("volume", ">i8"), ("price_only_n", ">i4"), ("price_only", "u1"),
               ("source_n", ">i4")]
    if src_len:  # an empty text is its length (0) and no bytes
        fields.append(("source", f"S{src_len}"))
    return np.dtype(fields)


@lru_cache(maxsize=256)
def _template(ticker_len: int, timeframe: bytes, source: bytes) -> npt.NDArray[np.void]:
    """One record with every constant part (field count, lengths, numeric headers, timeframe, source) set."""
    dtype = _record_dtype(ticker_len, len(timeframe), len(source))
    rec = np.zeros(1, dtype=dtype)
    rec["nfields"] = len(COPY_COLUMNS)
    rec["ticker_n"] = dtype["ticker"].itemsize
    rec["tf_n"], rec["tf"], rec["ts_n"] = len(timeframe), timeframe, 8
    for name in _PRICES:
        rec[f"{name}_n"], rec[f"{name}_head"], rec[f"{name}_weight"], rec[f"{name}_dscale"] = 16, 4, 2, 4
    rec["volume_n"], rec["price_only_n"], rec["source_n"] = 8, 1, len(source)
    if source:
        rec["source"] = source
    rec.flags.writeable = False  # shared by every batch of this shape
    return rec


def _records(rows: BarRows, idx: npt.NDArray[np.intp], tickers: npt.NDArray[np.bytes_], ticker_len: int,
             timeframe: bytes, source: bytes) -> npt.NDArray[np.void]:
    rec = np.repeat(_template(ticker_len, timeframe, source), len(idx))
    rec["ticker"] = tickers[idx]
    rec["ts"] = rows.ts_us[idx] - PG_EPOCH_US
    for name in _PRICES:
        ticks = rows.prices[name][idx]
        mag = np.abs(ticks)
        if len(mag) and int(mag.max()) >= _MAX_TICKS:
            raise ValueError(f"{name} {int(mag.max())} ticks is beyond NUMERIC(18, 4)")
        if (ticks < 0).any():
            rec[f"{name}_sign"] = np.where(ticks < 0, _NUMERIC_NEG, 0)
        whole = mag // _NBASE
        digits = rec[f"{name}_digits"]
        digits[:, 0], digits[:, 1] = whole // _NBASE**2, (whole // _NBASE) % _NBASE
        digits[:, 2], digits[:, 3] = whole % _NBASE, mag % _NBASE
    rec["volume"] = rows.volume[idx]
    rec["price_only"] = rows.price_only[idx]
    return rec
