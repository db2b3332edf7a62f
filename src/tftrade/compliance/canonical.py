"""Canonical JSON and SHA-256: the bytes an audit entry's hash is taken over.

Canonical means: keys sorted, no insignificant whitespace, UTF-8, ``Decimal`` as its
string (exact), dates and datetimes in ISO 8601, tuples as lists, numpy scalars as Python
numbers; NaN and infinity are refused (JSON has no such numbers), so are unknown types.
Floats are written as Python's shortest round-trip repr.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tftrade.compliance.errors import AuditError


def plain(obj: Any) -> Any:
    """``obj`` as plain JSON types (see the module docstring).

    Raises
    ------
    AuditError
        For a non-finite number or a type JSON cannot hold.
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise AuditError(f"cannot record the non-finite number {obj!r} in the audit log")
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise AuditError(f"cannot record the non-finite number {obj} in the audit log")
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return plain(obj.value)
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return plain(asdict(obj))
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return plain(item())
    raise AuditError(f"cannot record a {type(obj).__name__} in the audit log")


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of ``obj``.

    >>> canonical_json({"b": Decimal("1.10"), "a": [1, 2.5]})
    '{"a":[1,2.5],"b":"1.10"}'
    """
    return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    """SHA-256 of ``text``'s UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
