"""Values quoted inside quarantine reasons: safe to print and to store, and short."""

from __future__ import annotations


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted for a reason: control and invisible characters escaped, long text cut.

    Examples
    --------
    >>> print(quoted("12:3x"), quoted("A\\x00B"), quoted("x" * 70)[-3:])
    '12:3x' 'A\\x00B' x'…
    """
    cut = text[:limit]
    shown = repr(cut) if cut.isprintable() else ascii(cut)
    return shown + ("…" if len(text) > limit else "")
