"""bf16 mixed precision: ``with nnx.autocast("bfloat16"):``, torch's autocast semantics.

Inside the context, the operands of every GEMM and convolution of float32 data (Linear, Conv2d,
Maxout: forward, input gradient and weight gradient alike) are rounded to bfloat16 (round to
nearest even, NaN kept) and multiplied with float32 accumulation; everything else stays float32:
the outputs (torch returns bf16 tensors there; nnx keeps the float32 sums, which is at least as
accurate), master weights, gradients, optimizer state, losses, softmax and BatchNorm statistics.
float64 data is never autocast (torch's rule too). A backward uses the precision of its forward.

The state is per Python thread, like torch's. Which arithmetic runs is ``bf16_path()``, chosen
from the CPU level in force (``nnx.cpu_level()``): "amx" (AMX tiles, tdpbf16ps), then
"avx512_bf16" (vdpbf16ps), else "emulated" (exact bf16 products summed with float32 FMA, the
operands rounded while the compiled GEMM packs its panels; it warns once that it runs emulated).
``NNX_BF16_PATH`` forces one: ``emulated``, a native path the level has, or the portable
definitions of either instruction (``avx512_bf16-portable``, ``amx-portable``: the native
kernels' bits on any CPU, slowly); ``auto`` is the default; anything else is an error naming the
variable. docs/precision.md says which path gives which bits.
"""
import contextlib
import os
import threading
import warnings

import numpy as np

from .kernels import cpu
from .kernels._args import BF16_PATHS

__all__ = ["PRECISIONS", "autocast", "autocast_enabled", "bf16_path", "bf16_paths", "check_precision",
           "cpu_bf16_features"]

_local = threading.local()
_NATIVE = ("amx", "avx512_bf16")  # the native paths, preferred in this order
_paths = {}
_DTYPES = ("bfloat16", "bf16")  # the names of bf16 (torch: torch.bfloat16)
_FP32 = ("float32", "fp32")
#: The training precisions ``fit``, ``autocast``, the estimators and the CLI take, each under
#: two names, mapped to the short one.
PRECISIONS = {"fp32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16"}
_warned = []


def check_precision(value, where):
    """A training precision as ``"fp32"`` or ``"bf16"``; ``"float32"`` and ``"bfloat16"`` are the
    same two. Raises ValueError naming ``where`` for anything else."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(f"{where}: precision: expected one of {', '.join(PRECISIONS)}, got {value!r}")
    return PRECISIONS[value]


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
    dtype : "bfloat16" (or "bf16"); "float32" (or "fp32")
        The precision names ``fit``, the estimators and the CLI take: ``"float32"`` is float32
        throughout, as ``enabled=False``.
    enabled : bool
        ``False`` makes the context a no-op, and switches autocast off inside an enclosing one
        (as ``torch.autocast(..., enabled=False)``).
    """
    if not isinstance(dtype, str) or dtype not in PRECISIONS:
        raise ValueError(f"autocast: dtype: expected one of {', '.join(_DTYPES)} (or {', '.join(_FP32)} for float32 "
                         f"throughout), got {dtype!r}")
    if not isinstance(enabled, bool):
        raise TypeError(f"autocast: enabled: expected a bool, got {enabled!r}")
    enabled = enabled and PRECISIONS[dtype] == "bf16"
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


def bf16_paths():
    """The bf16 paths this process can run: "emulated", the native paths of the CPU level in
    force (``"avx512_bf16"`` from that level up, ``"amx"`` at ``amx``) when this build has them,
    and the portable definitions of both instructions (with the compiled tier)."""
    level = cpu.cpu_level()
    if level not in _paths:
        from .kernels import compiled_available

        names = ["emulated"]
        if compiled_available():
            from .kernels import compiled

            for name in compiled.bf16_paths_built():
                native = not name.endswith("-portable")
                if name != "emulated" and not (native and cpu.LEVELS.index(level) < cpu.LEVELS.index(name)):
                    names.append(name)
        _paths[level] = tuple(names)
    return _paths[level]


def bf16_path():
    """The bf16 arithmetic this process runs under autocast: ``NNX_BF16_PATH`` when it is set
    (and not "auto"), else "amx", "avx512_bf16" or "emulated", the first this process can run.

    Raises
    ------
    ValueError
        For an ``NNX_BF16_PATH`` that is no path, or one this process cannot run.
    """
    forced = os.environ.get("NNX_BF16_PATH", "auto").strip() or "auto"
    if forced != "auto" and forced not in BF16_PATHS:
        raise ValueError(f"NNX_BF16_PATH: expected auto or one of {', '.join(BF16_PATHS)}, got {forced!r}")
    have = bf16_paths()
    if forced == "auto":
        return next((name for name in _NATIVE if name in have), "emulated")
    if forced not in have:
        raise ValueError(
            f"NNX_BF16_PATH={forced}: this process runs at CPU level {cpu.cpu_level()}, which has the bf16 paths "
            f"{', '.join(have)}" + (f" (the portable definition, {forced}-portable, runs anywhere)"
                                    if forced in _NATIVE and "amx-portable" in have else ""))
    return forced


def _announce():
    """Warn once per process when bf16 runs emulated, saying why (no kernel for this CPU, the
    level capped, or the path forced)."""
    path = bf16_path()  # a bad NNX_BF16_PATH fails here, at the boundary
    if _warned or path != "emulated":
        return
    _warned.append(True)
    have = [k.upper() for k, v in cpu_bf16_features().items() if v]
    if os.environ.get("NNX_BF16_PATH", "auto").strip() == "emulated":
        why = "NNX_BF16_PATH=emulated forces it"
    elif have:
        capped = cpu.cpu_facts().get("cap")
        why = f"this CPU has {' and '.join(have)}, " + (f"but the CPU level in force is {cpu.cpu_level()}" if capped
                                                       else "but this build has no kernel for it")
    else:
        why = "this CPU has neither AMX-BF16 nor AVX512_BF16"
    warnings.warn(f"nnx.autocast: bf16 runs emulated (float32 FMA on bf16-rounded operands): {why}; results are "
                  "exact bf16 products with float32 sums, speed is float32's", RuntimeWarning,
                  stacklevel=4)  # past autocast and contextlib: the `with` line
