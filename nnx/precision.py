"""bf16 mixed precision: ``with nnx.autocast("bfloat16"):``, torch's autocast semantics.

Inside the context, the operands of every GEMM and convolution of float32 data (Linear, Conv2d,
Maxout: forward, input gradient and weight gradient alike) are rounded to bfloat16 (round to
nearest even, NaN kept) and multiplied with float32 accumulation; everything else stays float32:
the outputs (torch returns bf16 tensors there; nnx keeps the float32 sums, which is at least as
accurate), master weights, gradients, optimizer state, losses, softmax and BatchNorm statistics.
float64 data is never autocast (torch's rule too). A backward uses the precision of its forward.

The state is per Python thread, like torch's. Which arithmetic runs is ``bf16_path()``: this
build has one, "emulated": exact bf16 products (two 8-bit significands fit a float32) summed
with float32 FMA, the operands rounded while the compiled GEMM packs its panels. Faster paths
(AVX512_BF16, AMX) are not built yet; on a CPU that has them, nnx says so once.
``NNX_BF16_PATH=emulated`` forces the emulated path (the only one today; ``auto`` is the
default; anything else is an error naming the variable).
"""
import contextlib
import os
import threading
import warnings

import numpy as np

from .kernels import cpu

__all__ = ["autocast", "autocast_enabled", "bf16_path", "cpu_bf16_features"]

_local = threading.local()
_PATHS = ("auto", "emulated")
_DTYPES = ("bfloat16", "bf16")  # the names autocast takes (torch: torch.bfloat16)
_warned = []


def autocast_enabled():
    """True inside ``nnx.autocast("bfloat16")`` on this thread."""
    return getattr(_local, "depth", 0) > 0


def use_bf16(dtype):
    """Whether an op on data of ``dtype`` runs with bf16 operands here (float32 under autocast)."""
    return getattr(_local, "depth", 0) > 0 and np.dtype(dtype) == np.float32


@contextlib.contextmanager
def autocast(dtype="bfloat16", enabled=True):
    """Run GEMMs and convolutions of float32 data with bf16 operands and float32 accumulation.

    Parameters
    ----------
    dtype : "bfloat16" (or "bf16")
    enabled : bool
        ``False`` makes the context a no-op, and switches autocast off inside an enclosing one
        (as ``torch.autocast(..., enabled=False)``).
    """
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"autocast: dtype: expected 'bfloat16', got {dtype!r}")
    if not isinstance(enabled, bool):
        raise TypeError(f"autocast: enabled: expected a bool, got {enabled!r}")
    if enabled:
        _announce()
    saved = getattr(_local, "depth", 0)
    _local.depth = saved + 1 if enabled else 0
    try:
        yield
    finally:
        _local.depth = saved


def cpu_bf16_features():
    """``{"avx512_bf16": bool, "amx_bf16": bool}``: what this CPU offers for bf16 (nnx.kernels.cpu's
    detection; False without the compiled tier)."""
    facts = cpu.cpu_facts()
    return {"avx512_bf16": bool(facts.get("avx512_bf16")), "amx_bf16": bool(facts.get("amx_bf16"))}


def bf16_path():
    """The bf16 arithmetic this process runs: "emulated" (float32 FMA on bf16-rounded operands)."""
    forced = os.environ.get("NNX_BF16_PATH", "auto")
    if forced not in _PATHS:
        raise ValueError(f"NNX_BF16_PATH: expected one of {', '.join(_PATHS)} (this build has only the "
                         f"emulated bf16 path), got {forced!r}")
    return "emulated"


def _announce():
    """Warn once per process that bf16 runs emulated, naming what the CPU could do instead."""
    bf16_path()  # a bad NNX_BF16_PATH fails here, at the boundary
    if _warned:
        return
    _warned.append(True)
    have = [k.upper() for k, v in cpu_bf16_features().items() if v]
    warnings.warn("nnx.autocast: bf16 runs emulated (float32 FMA on bf16-rounded operands): "
                  + (f"this CPU has {' and '.join(have)} but nnx has no kernel for it yet"
                     if have else "this CPU has neither AMX-BF16 nor AVX512_BF16")
                  + "; results are exact bf16 products with float32 sums, speed is float32's",
                  RuntimeWarning, stacklevel=4)  # past autocast and contextlib: the `with` line
