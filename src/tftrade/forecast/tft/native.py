"""The TFT's fused C kernels (variable selection, LSTM, temporal block, attention, GRN gates): built once per machine,
loaded with ctypes.

The kernels (``tft_kernels.c``, shipped with the package) are compiled at first use with the system C
compiler (``$CC``, else ``cc``) into a cache directory (``$TFTRADE_KERNEL_DIR``, else
``$XDG_CACHE_HOME/tftrade/kernels``, else ``~/.cache/tftrade/kernels``), under a name that hashes
the source, the flags and the CPU's feature flags, and is replaced atomically. Where no compiler
is found, compilation fails or ``TFTRADE_NATIVE=0`` is set, :func:`tft_kernels` returns ``None``
and the model uses its tensor path (same function, slower); the reason is logged once.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch

log = logging.getLogger(__name__)

FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros", "-freciprocal-math",
         "-fopenmp", "-fPIC", "-shared")
"""Some of fast-math's freedoms, not ``-ffast-math`` itself: linked into a shared object it would flush
subnormals to zero for the whole process. Not ``-fassociative-math`` either: it lets the compiler
merge the two-step range reduction of ``exp`` (and undo its rounding trick); the loops are
vectorised by hand, so it bought nothing."""
_F = ctypes.POINTER(ctypes.c_float)
_I = ctypes.POINTER(ctypes.c_int)


class VsnArgs(ctypes.Structure):
    """Mirror of ``vsn_args`` in ``tft_kernels.c`` (field order and types must match)."""

    _fields_ = [
        ("x", _F), ("ctx", _F), ("n", ctypes.c_long), ("steps", ctypes.c_long),
        ("nv", ctypes.c_int), ("d", ctypes.c_int), ("e", ctypes.c_int),
        ("fa", _F), ("fc", _F), ("fw", _F), ("fb", _F), ("sa", _F), ("sc", _F), ("flw", _F), ("flb", _F),
        ("feps", ctypes.c_float),
        ("a1", _F), ("c1", _F), ("wg", _F), ("bg", _F), ("as_", _F), ("cs", _F), ("eps", ctypes.c_float),
        ("lookup", _I), ("index", _I), ("table", _F), ("table_rows", ctypes.c_long),
        ("sel", _F), ("wout", _F),
    ]


class TemporalArgs(ctypes.Structure):
    """Mirror of ``temporal_args`` in ``tft_kernels.c`` (the post-LSTM gate and static enrichment)."""

    _fields_ = [
        ("y", _F), ("skip", _F), ("ctx", _F), ("n", ctypes.c_long), ("steps", ctypes.c_long), ("d", ctypes.c_int),
        ("pw", _F), ("pb", _F), ("pnw", _F), ("pnb", _F), ("w1", _F), ("b1", _F), ("fw", _F), ("fb", _F),
        ("enw", _F), ("enb", _F), ("peps", ctypes.c_float), ("eeps", ctypes.c_float),
        ("temporal", _F), ("enriched", _F),
    ]


class LstmArgs(ctypes.Structure):
    """Mirror of ``lstm_args`` in ``tft_kernels.c`` (one LSTM layer in inference)."""

    _fields_ = [
        ("x", _F), ("w_t", _F), ("bias", _F), ("h0", _F), ("c0", _F), ("b", ctypes.c_long), ("t", ctypes.c_long),
        ("din", ctypes.c_int), ("d", ctypes.c_int), ("out", _F), ("hn", _F), ("cn", _F),
    ]


class LstmTrainArgs(ctypes.Structure):
    """Mirror of ``lstm_train_args`` in ``tft_kernels.c`` (one LSTM layer's recurrence in training)."""

    _fields_ = [
        ("gx", _F), ("bias", _F), ("w_hh_t", _F), ("w_hh", _F), ("h0", _F), ("c0", _F), ("b", ctypes.c_long),
        ("t", ctypes.c_long), ("d", ctypes.c_int), ("gates", _F), ("c", _F), ("h", _F), ("dh", _F), ("dhn", _F),
        ("dcn", _F), ("dgx", _F), ("dh0", _F), ("dc0", _F),
    ]


class PvArgs(ctypes.Structure):
    """Mirror of ``pv_args`` in ``tft_kernels.c`` (the per-variable stage in training)."""

    _fields_ = [
        ("x", _F), ("w", _F), ("g", _F), ("n", ctypes.c_long),
        ("nv", ctypes.c_int), ("d", ctypes.c_int), ("e", ctypes.c_int),
        ("a1", _F), ("c1", _F), ("w2", _F), ("b2", _F), ("wg", _F), ("bg", _F), ("as_", _F), ("cs", _F),
        ("eps", ctypes.c_float), ("p", ctypes.c_float), ("seed", ctypes.c_uint),
        ("sel", _F), ("dw", _F), ("grads", _F),
    ]


class GateArgs(ctypes.Structure):
    """Mirror of ``gate_args`` in ``tft_kernels.c`` (a GRN's gate, add & norm in training)."""

    _fields_ = [
        ("z", _F), ("bias", _F), ("skip", _F), ("lw", _F), ("lb", _F), ("grad", _F), ("n", ctypes.c_long),
        ("d", ctypes.c_int), ("eps", ctypes.c_float), ("out", _F), ("stats", _F), ("dz", _F), ("dskip", _F),
        ("partial", _F),
    ]


class AttentionArgs(ctypes.Structure):
    """Mirror of ``attention_args`` in ``tft_kernels.c`` (interpretable multi-head attention in inference)."""

    _fields_ = [
        ("q", _F), ("kv", _F), ("mask", _I), ("b", ctypes.c_long), ("lq", ctypes.c_int), ("lk", ctypes.c_int),
        ("d", ctypes.c_int), ("heads", ctypes.c_int), ("dh", ctypes.c_int), ("wq_t", _F), ("bq", _F), ("wk", _F),
        ("wvo", _F), ("bvo", _F), ("bo", _F), ("root", ctypes.c_float), ("out", _F), ("weights", _F),
    ]


def plain_float32(*tensors: torch.Tensor | None) -> bool:
    """Whether the kernels may take these tensors: float32 on the CPU (``None`` is ignored) and no CPU
    autocast active, under which the products between the kernels would come out in another dtype."""
    return not torch.is_autocast_enabled("cpu") and all(
        t is None or (t.dtype == torch.float32 and t.device.type == "cpu") for t in tensors)


def _checked(t: torch.Tensor, dtype: torch.dtype) -> int:
    """The data address of ``t``, which must be a contiguous CPU tensor of ``dtype``: the kernels index
    raw memory by element counts, so any other tensor would be read (or written) out of bounds."""
    if t.dtype != dtype or t.device.type != "cpu" or not t.is_contiguous():
        raise TypeError(f"kernel arguments must be contiguous {dtype} CPU tensors, got {t.dtype} on {t.device}"
                        f"{'' if t.is_contiguous() else ', not contiguous'}")
    return int(t.data_ptr())


def float_ptr(t: torch.Tensor | None) -> ctypes._Pointer[ctypes.c_float] | None:
    """A ``float *`` to a contiguous float32 CPU tensor's data (``None`` for ``None``).

    Raises
    ------
    TypeError
        For any other tensor (another dtype or device, or not contiguous).
    """
    return None if t is None else ctypes.cast(_checked(t, torch.float32), _F)


def int_ptr(t: torch.Tensor | None) -> ctypes._Pointer[ctypes.c_int] | None:
    """An ``int *`` to a contiguous int32 CPU tensor's data (``None`` for ``None``); ``TypeError`` otherwise."""
    return None if t is None else ctypes.cast(_checked(t, torch.int32), _I)


def kernel_dir() -> Path:
    """Where compiled kernels are cached."""
    if explicit := os.environ.get("TFTRADE_KERNEL_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tftrade" / "kernels"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(source: str, compiler: str) -> Path:
    key = hashlib.sha256("\0".join([source, compiler, *FLAGS, platform.machine(), _cpu_flags()]).encode())
    target = kernel_dir() / f"tft-{key.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src, out = Path(tmp) / "tft_kernels.c", Path(tmp) / "tft.so"
        src.write_text(source)
        proc = subprocess.run([compiler, *FLAGS, "-o", str(out), str(src), "-lm"], capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            message = proc.stderr.strip()[-500:] or "no message"
            raise RuntimeError(f"{compiler} exited with {proc.returncode}: {message}")
        os.replace(out, target)
    return target


@lru_cache(maxsize=1)
def tft_kernels() -> ctypes.CDLL | None:
    """Return the loaded kernel library (variable selection, LSTM recurrence, temporal block, attention), or ``None``
    if it is disabled or cannot be built."""
    if os.environ.get("TFTRADE_NATIVE", "1") == "0":
        return None
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler found: variable selection uses the slower tensor path")
        return None
    try:
        source = resources.files("tftrade.forecast.tft").joinpath("tft_kernels.c").read_text()
        lib = ctypes.CDLL(str(_build(source, compiler)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("fused variable-selection kernel unavailable (%s): using the tensor path", exc)
        return None
    lib.vsn_forward.argtypes = [ctypes.POINTER(VsnArgs), ctypes.c_int]
    lib.vsn_forward.restype = ctypes.c_int
    lib.vsn_lookup.argtypes = [ctypes.POINTER(VsnArgs)]
    lib.vsn_lookup.restype = ctypes.c_int
    lib.dropout_apply.argtypes = [_F, _F, ctypes.c_long, ctypes.c_float, ctypes.c_uint, ctypes.c_int]
    lib.dropout_apply.restype = None
    for name in ("pv_forward", "pv_backward"):
        getattr(lib, name).argtypes = [ctypes.POINTER(PvArgs), ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    lib.temporal_forward.argtypes = [ctypes.POINTER(TemporalArgs), ctypes.c_int]
    lib.temporal_forward.restype = ctypes.c_int
    for name in ("gate_forward", "gate_backward"):
        getattr(lib, name).argtypes = [ctypes.POINTER(GateArgs), ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    for name in ("lstm_train_forward", "lstm_train_backward"):
        getattr(lib, name).argtypes = [ctypes.POINTER(LstmTrainArgs), ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    lib.lstm_forward.argtypes = [ctypes.POINTER(LstmArgs), ctypes.c_int]
    lib.lstm_forward.restype = ctypes.c_int
    lib.attention_forward.argtypes = [ctypes.POINTER(AttentionArgs), ctypes.c_int]
    lib.attention_forward.restype = ctypes.c_int
    return lib
