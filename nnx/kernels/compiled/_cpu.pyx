# cython: language_level=3
"""What this CPU and its OS support (include/nnx_cpu.h): CPUID and XGETBV, read once.

The policy on top of it (the NNX_CPU_LEVEL cap, the level in force, setting it in every
compiled module) is nnx/kernels/cpu.py and nnx.kernels.compiled's import.
"""

cdef extern from "nnx_cpu.h" nogil:
    ctypedef struct nnx_cpu_facts:
        int level
        int sse42, popcnt, cx16, lahf
        int avx, avx2, fma, bmi1, bmi2, f16c, lzcnt, movbe, os_avx
        int avx512f, avx512bw, avx512cd, avx512dq, avx512vl, os_avx512
        int avx512_bf16
        int amx_tile, amx_bf16, os_amx, amx_permission
    nnx_cpu_facts nnx_cpu_detect()
    int NNX_NLEVELS
    int NNX_HAVE_CLONES

NLEVELS = NNX_NLEVELS
HAVE_CLONES = bool(NNX_HAVE_CLONES)  # False: this build has the baseline code only


def detect():
    """``{"level": int, <feature>: bool, ...}``: the highest level this CPU and OS support (0
    baseline .. 4 amx) and the facts behind it. On a CPU with AMX this also asks the kernel for
    the tile data permission (once per process; ``amx_permission`` says whether it was given)."""
    cdef nnx_cpu_facts f = nnx_cpu_detect()
    out = dict(f)
    level = out.pop("level")
    return {"level": level, **{k: bool(v) for k, v in out.items()}}
