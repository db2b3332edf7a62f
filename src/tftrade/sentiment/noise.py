"""Noise control: down-weight near-duplicate spam and single-author bursts.

Two rules, each giving a weight in ``(0, 1]``; a comment's weight is the smaller:

* **near-duplicates** — texts equal after normalisation (lower case, digits,
  URLs and punctuation removed, whitespace collapsed) posted within the same
  ``bucket`` (2 minutes by default): a group of :math:`n > k` copies gets
  weight :math:`k / n` each (:math:`k` = ``max_copies``), so it counts as
  :math:`k` comments;
* **single-author bursts** — one author writing more than ``max_per_author``
  comments in one bucket (default: more than 5 in 2 minutes): weight ``max_per_author / n`` each.

The weights feed :func:`tftrade.sentiment.aggregate.aggregate`; the counts of
what was down-weighted come back in :class:`NoiseReport`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_URL = re.compile(r"https?://\S+")
_NON_WORD = re.compile(r"[^a-z$ ]+")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Return the form of ``text`` under which near-duplicates compare equal.

    Examples
    --------
    >>> normalise_text("$GME to the MOON 🚀🚀 buy now!!! https://x.co/1") == normalise_text("$gme to the moon buy now")
    True
    """
    out = _NON_WORD.sub(" ", _URL.sub(" ", text.lower()))
    return _SPACES.sub(" ", out).strip()


@dataclass(frozen=True)
class NoiseReport:
    """How many comments each rule down-weighted, and the weight they lost in total."""

    comments: int
    near_duplicates: int
    author_bursts: int
    downweighted: int
    weight_removed: float


def noise_weights(
    comments: pd.DataFrame, *, bucket: str = "2min", max_copies: int = 3, max_per_author: int = 5
) -> tuple[np.ndarray, NoiseReport]:
    """Return a weight per comment (row order kept) and the report.

    Parameters
    ----------
    comments
        Columns ``body``, ``timestamp`` (UTC) and optionally ``author`` (missing or
        empty authors are never treated as one author).

    Examples
    --------
    >>> ts = pd.Timestamp("2024-01-02 15:00", tz="UTC")
    >>> c = pd.DataFrame({"body": ["$X to the moon"] * 6 + ["hello"], "author": ["spam"] * 6 + ["bob"],
    ...                   "timestamp": [ts] * 7})
    >>> w, rep = noise_weights(c)
    >>> w.round(3).tolist(), rep.downweighted
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0], 6)
    """
    n = len(comments)
    if n == 0:
        return np.ones(0), NoiseReport(0, 0, 0, 0, 0.0)
    bucket_of = pd.to_datetime(comments["timestamp"], utc=True).dt.floor(bucket).to_numpy()
    norm = comments["body"].astype(str).map(normalise_text).to_numpy()
    copies = pd.DataFrame({"t": norm, "b": bucket_of}).groupby(["t", "b"])["t"].transform("size").to_numpy()
    w_dup = np.where(copies > max_copies, max_copies / copies, 1.0)
    w_auth = np.ones(n)
    if "author" in comments:
        author = comments["author"].fillna("").astype(str).to_numpy()
        frame = pd.DataFrame({"a": author, "b": bucket_of})
        per_author = frame.groupby(["a", "b"])["a"].transform("size").to_numpy()
        valid = (author != "") & (author != "[deleted]")
        w_auth = np.where(valid & (per_author > max_per_author), max_per_author / per_author, 1.0)
    w = np.minimum(w_dup, w_auth)
    report = NoiseReport(
        comments=n,
        near_duplicates=int((w_dup < 1).sum()),
        author_bursts=int((w_auth < 1).sum()),
        downweighted=int((w < 1).sum()),
        weight_removed=round(float((1 - w).sum()), 3),
    )
    return w, report
