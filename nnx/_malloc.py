"""Keep glibc from returning activation-sized blocks to the OS after every training step.

Why: a training step allocates and frees the same large arrays (activations, gradients,
scratch) every step. glibc serves blocks above M_MMAP_THRESHOLD with a fresh mmap and trims
the heap top above M_TRIM_THRESHOLD, so each step page-faults its activations back in: a
zeroed 4 KB page per fault, measured at ~35% of a LeNet-5 step on 2 cores (4.4k -> 6.9k
samples/s with this tuning). Raising both thresholds lets freed blocks be reused as they are.
Cost: freed memory up to those sizes stays mapped in the process (as with jemalloc/tcmalloc,
which PyTorch recommends for the same reason), and it is process-wide, so importing nnx never
does it: ``nnx.tune_malloc()`` does, and ``nnx.fit`` and the CLI call it. Opt out with
NNX_MALLOC_TUNING=0. Measured effect: bench/NOTES.md ("malloc tuning").
"""
import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit: larger blocks still use mmap
TRIM_THRESHOLD = 256 * 1024 * 1024

state = {"applied": False, "reason": "off (nnx.tune_malloc() not called; fit and the CLI call it)"}


def tune():
    """Raise glibc's mmap and trim thresholds for this process, once (Linux + glibc only);
    return whether they are applied (``state`` says why not)."""
    if state["applied"]:
        return True
    if os.environ.get("NNX_MALLOC_TUNING", "1").strip() in ("0", "false", "no"):
        state["reason"] = "disabled by NNX_MALLOC_TUNING=0"
        return False
    if not sys.platform.startswith("linux"):
        state["reason"] = "not Linux"
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError):  # musl or another libc without mallopt
        state["reason"] = "mallopt unavailable"
        return False
    state["applied"] = bool(ok)
    state["reason"] = "mmap/trim thresholds 32 MB / 256 MB" if ok else "mallopt refused"
    return state["applied"]
