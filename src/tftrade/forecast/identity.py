"""A trained model's identity when no registry names it: a digest of its weights.

A backtest trains its own TFT (walk-forward) and never registers it; its forecasts, and so the
decisions in its audit chain, are named after the weights that made them, so two runs on the same
weights carry the same version and a retrained model a new one.

>>> import torch
>>> m = torch.nn.Linear(2, 1, bias=False)
>>> with torch.no_grad():
...     _ = m.weight.fill_(1.0)
>>> weights_version(m)
'walk-forward-f977b4f695c1'
"""

from __future__ import annotations

import hashlib

import torch

PREFIX = "walk-forward"
"""How a version named after its weights starts (a registry's versions are numbers)."""


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 (hex) of the model's parameters and buffers: each name, dtype, shape and bytes, in order."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def weights_version(model: torch.nn.Module, prefix: str = PREFIX) -> str:
    """``<prefix>-<first 12 hex digits of the weights' digest>``: the model version of an unregistered model."""
    return f"{prefix}-{weights_digest(model)[:12]}"
