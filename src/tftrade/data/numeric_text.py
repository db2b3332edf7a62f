"""Numbers as files write them: thousands separators, decimal commas, and volumes too big for floats.

A file's decimal mark is decided once from its price columns: ``1,234.5`` (point,
comma groups) or ``1.234,5`` / ``12,5`` (decimal comma, only in files not separated
by commas). Groups of three digits may also be separated by a space, an apostrophe
or an underscore (``1 234.5``, ``1'234.5``).
Text that fits none of them becomes NaN, so the row is quarantined as unparseable.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

_GROUPED = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_INT64_MAX = 2**63 - 1
_FLOAT_EXACT = 2**53

_STR = "string[pyarrow]"


def decimal_comma(columns: list[pd.Series], delimiter: str = ",") -> bool:
    """True when a file writes decimals with a comma (``12,5``): never in a comma-separated file.

    Examples
    --------
    >>> decimal_comma([pd.Series(["1.234,5", "12,25"])], ";"), decimal_comma([pd.Series(["1,234.5"])], ";")
    (True, False)
    """
    if delimiter == ",":
        return False
    comma = point = False
    for col in columns:
        if pd.api.types.is_numeric_dtype(col):
            continue
        text = col.astype(_STR).str.strip().dropna()
        point |= bool(text.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+\.\d+|[+-]?\d+\.(?:\d{1,2}|\d{4,})").any())
        comma |= bool(text.str.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+,\d+|[+-]?\d+,(?:\d{1,2}|\d{4,})").any())
        comma |= bool(text.str.fullmatch(r"[+-]?\d+,\d+").any()) and not point
    return comma and not point


def parse_numbers(values: pd.Series, comma: bool = False) -> pd.Series:
    """Parse a column of numbers written as text (or already numeric) to float64.

    Examples
    --------
    >>> parse_numbers(pd.Series(["1,234.5", "12"])).tolist()
    [1234.5, 12.0]
    >>> parse_numbers(pd.Series(["1.234,5", "0,25"]), comma=True).tolist()
    [1234.5, 0.25]
    """
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float)
    if comma:
        return pd.to_numeric(clean_number_text(values, comma), errors="coerce").astype(float)
    number = pd.to_numeric(values, errors="coerce").astype(float)
    retry = (number.isna() & values.notna()).to_numpy()
    if retry.any():
        number[retry] = pd.to_numeric(clean_number_text(values[retry]), errors="coerce").astype(float)
    return number


def clean_number_text(values: pd.Series, comma: bool = False) -> pd.Series:
    """The column's text with group separators removed and a decimal comma made a point.

    Text that is neither plain nor properly grouped is left as it is (and fails to parse).
    """
    text = values.astype(_STR).str.strip()
    text = text.str.replace(r"^[+-]?(?:inf(?:inity)?|nan)$", "", case=False, regex=True)
    text = text.where(text.str.fullmatch(r"[0-9.,+\-eE '_\u00a0\u202f]*").fillna(False).astype(bool), "")
    if comma:
        for sep in (" ", "'", "\u00a0", "\u202f"):
            text = _ungroup(text, sep, point=",", decimal=",")
        grouped = text.str.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?").fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(".", "", regex=False))
        return text.str.replace(",", ".", regex=False)
    for sep in (",", " ", "'", "_", "\u00a0", "\u202f"):
        text = _ungroup(text, sep, point=".", decimal=".")
    return text


def _ungroup(text: pd.Series, sep: str, point: str, decimal: str) -> pd.Series:
    if not text.str.contains(sep, regex=False).fillna(False).any():
        return text
    pattern = r"[+-]?\d{1,3}(?:" + re.escape(sep) + r"\d{3})+(?:" + re.escape(decimal) + r"\d+)?"
    grouped = text.str.fullmatch(pattern).fillna(False).astype(bool)
    return text.where(~grouped, text.str.replace(sep, "", regex=False))


def parse_volume(values: pd.Series, comma: bool = False) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """Volumes as exact integers where they fit ``BIGINT``.

    Returns
    -------
    tuple
        ``(volume, exact, problem)``: float64 volumes for the checks (NaN where unusable),
        the exact int64 value of each (0 where unusable), and per row an empty string or
        the reason the value cannot be stored exactly.

    Examples
    --------
    >>> v, exact, problem = parse_volume(pd.Series(["9007199254740993", "9223372036854775808"]))
    >>> int(exact[0]), problem.tolist()[1]
    (9007199254740993, 'volume 9223372036854775808 does not fit a 64-bit integer')
    """
    problem = pd.Series("", index=values.index, dtype=object)
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        if not pd.api.types.is_unsigned_integer_dtype(values):
            return values.astype(float), values.to_numpy(dtype=np.int64), problem
        # uint64 (Parquet): values of 2**63 and more would wrap to negative int64
        wide = values.to_numpy(dtype=np.uint64) > np.uint64(_INT64_MAX)
        exact = np.where(wide, 0, values.to_numpy(dtype=np.uint64)).astype(np.int64)
        problem[wide] = [f"volume {v} does not fit a 64-bit integer" for v in values[wide]]
        return values.astype(float).where(~wide), exact, problem
    number = parse_numbers(values, comma)
    ok = number.notna() & (number.abs() < _FLOAT_EXACT)
    exact = np.zeros(len(values), dtype=np.int64)
    exact[ok.to_numpy()] = np.trunc(number[ok].to_numpy()).astype(np.int64)
    big = np.flatnonzero((number.abs() >= _FLOAT_EXACT).to_numpy())
    text = values.iloc[big] if pd.api.types.is_float_dtype(values) else clean_number_text(values.iloc[big], comma)
    for k, idx in enumerate(big):
        raw = str(text.iloc[k])
        try:
            value = Decimal(raw)
        except InvalidOperation:
            continue
        if value != value.to_integral_value():
            problem.iloc[idx] = f"volume {raw} is not a whole number"
        elif value > _INT64_MAX or value < -_INT64_MAX:
            problem.iloc[idx] = f"volume {raw} does not fit a 64-bit integer"
        else:
            exact[idx] = int(value)
            continue
        number.iloc[idx] = np.nan
    return number, exact, problem
