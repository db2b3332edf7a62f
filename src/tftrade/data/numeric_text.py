"""Numbers as files write them: thousands separators, decimal commas, and volumes too big for floats.

A column's style is decided once for the whole column: ``1,234.5`` (comma groups),
``1.234,5`` or ``12,5`` (decimal comma, only in files not separated by commas),
``1 234.5`` / ``1'234.5`` / ``1_234.5`` (space, apostrophe, underscore groups).
Text that fits none of them becomes NaN, so the row is quarantined as unparseable.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

_GROUPED = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_EURO = r"[+-]?\d{1,3}(?:\.\d{3})*,\d+|[+-]?\d{1,3}(?:\.\d{3})+"
_INT64_MAX = 2**63 - 1
_FLOAT_EXACT = 2**53


def parse_numbers(values: pd.Series, delimiter: str = ",") -> pd.Series:
    """Parse a column of numbers written as text (or already numeric) to float64.

    Examples
    --------
    >>> parse_numbers(pd.Series(["1,234.5", "12"])).tolist()
    [1234.5, 12.0]
    >>> parse_numbers(pd.Series(["1.234,5", "0,25"]), delimiter=";").tolist()
    [1234.5, 0.25]
    """
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").astype(float)
    text = clean_number_text(values, delimiter)
    return pd.to_numeric(text, errors="coerce").astype(float)


def clean_number_text(values: pd.Series, delimiter: str = ",") -> pd.Series:
    """The column's text with group separators removed and a decimal comma made a point."""
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^[+-]?(?:inf(?:inity)?|nan)$", "", case=False, regex=True)
    sample = text.dropna()
    if sample.str.contains(",", regex=False).any():
        if delimiter != "," and sample.str.fullmatch(_EURO).any() and not sample.str.fullmatch(_GROUPED).all():
            return text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        grouped = text.str.fullmatch(_GROUPED).fillna(False)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    for sep in (" ", "'", "_", "\u00a0", "\u202f"):
        if sample.str.contains(sep, regex=False).any():
            pattern = r"[+-]?\d{1,3}(?:" + re.escape(sep) + r"\d{3})+(?:\.\d+)?"
            grouped = text.str.fullmatch(pattern).fillna(False)
            text = text.where(~grouped, text.str.replace(sep, "", regex=False))
    return text


def parse_volume(values: pd.Series, delimiter: str = ",") -> tuple[pd.Series, np.ndarray, pd.Series]:
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
    if pd.api.types.is_integer_dtype(values):
        return values.astype(float), values.to_numpy(dtype=np.int64), problem
    if pd.api.types.is_float_dtype(values):
        text = values.astype("string")
    else:
        text = clean_number_text(values.astype("string"), delimiter)
    number = pd.to_numeric(text, errors="coerce").astype(float)
    ok = number.notna() & (number.abs() < _FLOAT_EXACT)
    exact = np.zeros(len(values), dtype=np.int64)
    exact[ok.to_numpy()] = np.trunc(number[ok].to_numpy()).astype(np.int64)
    for idx in np.flatnonzero((number.abs() >= _FLOAT_EXACT).to_numpy()):
        raw = str(text.iloc[idx])
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
