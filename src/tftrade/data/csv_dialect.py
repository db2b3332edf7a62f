"""Reading a delimited text file into columns of strings, whatever its dialect.

Handles plain and gzip-compressed files (a truncated or corrupt one is one clear
error), a byte-order mark, text that is not UTF-8 (read as Windows-1252), the
delimiter (given, or sniffed among ``, ; | tab``), files without a header (columns
named by the caller) and yfinance's three-row header (``Price,Close,…`` /
``Ticker,AAPL,…`` / ``Date,,…``). A line with more or fewer fields than the header
is not fatal: it is returned as a *ragged* row to quarantine, and every other row
is kept. Each row carries its physical line number in the file.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tftrade.core.errors import DataError

_CANDIDATES = (",", ";", "\t", "|")
_Reader = Iterator[list[str]]
_FIELD_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class CsvFormat:
    """How to split a text file: delimiter (``None`` = sniff), header or given column names."""

    delimiter: str | None = None
    header: bool = True
    columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"delimiter {self.delimiter!r} must be one character (use '\\t' for tab)")
        if not self.header and not self.columns:
            raise ValueError("a file without a header needs its column names (--columns a,b,c)")


@dataclass(frozen=True)
class RawTable:
    """Columns of text as read, the line number of each row, and rows that could not be split."""

    frame: pd.DataFrame
    line_numbers: np.ndarray
    ragged: list[tuple[int, str, str]] = field(default_factory=list)
    header_ticker: str | None = None
    delimiter: str = ","

    @property
    def header_names(self) -> list[str]:
        """The frame's column names."""
        return [str(c) for c in self.frame.columns]


def read_text(path: Path) -> str:
    """Return a (possibly compressed) file's text.

    Raises
    ------
    DataError
        If the file is missing, truncated, or not a readable compressed file.
    """
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_bytes(path: Path) -> bytes:
    """Return a (possibly gzip, bz2 or xz compressed) text file's bytes, decompressed.

    Raises
    ------
    DataError
        If the file is missing, truncated, a zip archive, binary, or not a readable compressed file.
    """
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file")
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif data[:3] == b"BZh":
            data = bz2.decompress(data)
        elif data[:6] == b"\xfd7zXZ\x00":
            data = lzma.decompress(data)
    except EOFError:
        raise DataError(f"{path}: compressed file is truncated (it ends before its end marker); "
                        "nothing was stored") from None
    except (OSError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise DataError(f"{path}: corrupt compressed file ({e}); nothing was stored") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a BOM (Excel's "Unicode text"): as UTF-8
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: starts like UTF-16 text but is not ({e.reason})") from None
    if data[:4] == b"PK\x03\x04":
        raise DataError(f"{path}: is a zip archive; unzip it and ingest the files inside")
    head = data[:4096]
    if head and sum(b < 32 and b not in (9, 10, 13) for b in head) > 0.1 * len(head):
        raise DataError(f"{path}: looks like a binary file, not delimited text")
    return data


def split_table(text: str, fmt: CsvFormat, path: Path | str = "<input>") -> RawTable:
    """Split ``text`` into a frame of strings (see the module docstring).

    Raises
    ------
    DataError
        If the file is empty, or has no rows of data.
    """
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    delimiter = fmt.delimiter or sniff_delimiter(text)
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if any(ch in text for ch in ('"', "\r", "\x00")):
        return _split_with_csv(text, fmt, delimiter, path)
    return _split_fast(text, fmt, delimiter, path)


def _columns(fmt: CsvFormat, rows: _Reader,
             path: Path | str) -> tuple[list[str], list[str] | None, list[str] | None]:
    if fmt.header:
        header, column_tickers, first = _yfinance_header(_header(rows, path), rows)
    else:
        header, column_tickers, first = list(fmt.columns or ()), None, None
    if fmt.columns and fmt.header:
        if len(fmt.columns) != len(header):
            raise DataError(f"{path}: --columns names {len(fmt.columns)} columns but the file has {len(header)}")
        header = list(fmt.columns)
    return header, column_tickers, first


def _ragged_reason(fields: int, width: int) -> str:
    return f"row has {fields} fields, the header has {width}"


def _split_with_csv(text: str, fmt: CsvFormat, delimiter: str, path: Path | str) -> RawTable:
    """The general path (quoted fields, NUL bytes, bare carriage returns): Python's csv module."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, _FIELD_LIMIT))  # a huge field is one bad row, not a broken file
    try:
        return _split_records(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), fmt, delimiter, path)
    finally:
        csv.field_size_limit(limit)


def _split_records(rows: Any, fmt: CsvFormat, delimiter: str, path: Path | str) -> RawTable:
    header, column_tickers, first = _columns(fmt, rows, path)
    width = len(header)
    good: list[list[str]] = []
    numbers: list[int] = []
    ragged: list[tuple[int, str, str]] = []
    for record in itertools.chain([first] if first is not None else [], rows):
        line = rows.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) != width:
            ragged.append((line, delimiter.join(record), _ragged_reason(len(record), width)))
            continue
        good.append(record)
        numbers.append(line)
    if not good and not ragged:
        raise DataError(f"{path}: no rows of data after the header")
    cols = _unique(header)
    frame = pd.DataFrame(good, columns=cols, dtype=object) if good else pd.DataFrame(columns=cols, dtype=object)
    return _by_ticker(RawTable(frame, np.asarray(numbers, dtype=np.int64), ragged, None, delimiter), column_tickers)


def _split_fast(text: str, fmt: CsvFormat, delimiter: str, path: Path | str) -> RawTable:
    """Files without quotes: count fields per line, then let pandas' C parser split the good lines."""
    lines = text.split("\n")
    pos = 0

    def records() -> Iterator[list[str]]:
        nonlocal pos
        while pos < len(lines):
            pos += 1
            if lines[pos - 1].strip():
                yield lines[pos - 1].split(delimiter)

    header, column_tickers, first = _columns(fmt, records(), path)
    width = len(header)
    body = lines[pos:]
    numbers = np.arange(pos + 1, pos + 1 + len(body), dtype=np.int64)
    fields = np.fromiter((ln.count(delimiter) + 1 if ln.strip() else 0 for ln in body), dtype=np.int64,
                         count=len(body))
    keep = fields == width
    bad = (fields != width) & (fields > 0)
    ragged = [(int(numbers[i]), body[i], _ragged_reason(int(fields[i]), width)) for i in np.flatnonzero(bad)]
    good_lines = [ln for ln, k in zip(body, keep, strict=True) if k]
    good_numbers = numbers[keep]
    if first is not None:
        if len(first) == width:
            good_lines.insert(0, delimiter.join(first))
            good_numbers = np.concatenate([[pos], good_numbers])
        else:
            ragged.insert(0, (pos, delimiter.join(first), _ragged_reason(len(first), width)))
    if not good_lines and not ragged:
        raise DataError(f"{path}: no rows of data after the header")
    cols = _unique(header)
    if not good_lines:
        return RawTable(pd.DataFrame(columns=cols, dtype=object), good_numbers, ragged, None, delimiter)
    frame = pd.read_csv(io.StringIO("\n".join(good_lines)), sep=delimiter, header=None, names=cols, dtype=str,
                        na_filter=False, quoting=csv.QUOTE_NONE, skip_blank_lines=False, engine="c")
    return _by_ticker(RawTable(frame, good_numbers, ragged, None, delimiter), column_tickers)


def sniff_delimiter(text: str) -> str:
    """The candidate delimiter that splits the first lines into the same, largest number of fields."""
    sample = [ln for ln in text[:64_000].splitlines()[:50] if ln.strip()]
    best, best_score = ",", (0, 0)
    for cand in _CANDIDATES:
        counts = [len(next(csv.reader([ln], delimiter=cand))) for ln in sample]
        if not counts or max(counts) < 2:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode), mode)
        if score > best_score:
            best, best_score = cand, score
    return best


def _header(rows: _Reader, path: Path | str) -> list[str]:
    for record in rows:
        if record and any(c.strip() for c in record):
            return [c.strip() for c in record]
    raise DataError(f"{path}: file has no header line")


def _yfinance_header(header: list[str], rows: _Reader) -> tuple[list[str], list[str] | None, list[str] | None]:
    """Fold yfinance's ``Price/Ticker/Date`` header rows into one header, and the ticker of each column."""
    if not header or header[0].lower() != "price":
        return header, None, None
    second = next(rows, None)
    if second is None or not second or second[0].strip().lower() != "ticker":
        return header, None, second
    third = next(rows, None)
    names = [header[0] if i else "" for i in range(len(header))]
    if third is not None and third and third[0].strip() and not any(c.strip() for c in third[1:]):
        names[0] = third[0].strip()
        third = None
    else:
        names[0] = "Date"
    names[1:] = header[1:]
    column_tickers = [""] + [c.strip() for c in second[1:]] + [""] * max(0, len(header) - len(second))
    return names, column_tickers[: len(names)], third


def _by_ticker(table: RawTable, column_tickers: list[str] | None) -> RawTable:
    """A yfinance file of one ticker notes it; one of several (``Close`` per ticker) becomes one row per ticker."""
    tickers = sorted({t for t in column_tickers or () if t})
    if column_tickers is None or not tickers:
        return table
    if len(tickers) == 1:
        return RawTable(table.frame, table.line_numbers, table.ragged, tickers[0], table.delimiter)
    names = list(table.header_names)
    shared = [i for i, t in enumerate(column_tickers) if not t]
    parts, numbers = [], []
    for ticker in tickers:
        own = [i for i, t in enumerate(column_tickers) if t == ticker]
        part = table.frame.iloc[:, shared + own].copy()
        part.columns = [names[i].split(".")[0] for i in shared + own]
        parts.append(part.assign(Ticker=ticker))
        numbers.append(table.line_numbers)
    return RawTable(pd.concat(parts, ignore_index=True), np.concatenate(numbers), table.ragged, None, table.delimiter)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        name = n or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out
