# cython: language_level=3
"""The compiled tier's bfloat16 rounding (nnx_bf16.h), for bf16 autocast.

Threads: OpenMP over fixed-size blocks; each element's result does not depend on the split.
"""
from cython.parallel cimport prange
from ._level cimport nnx_clone_name, nnx_set_level

cdef extern from "nnx_bf16.h" nogil:
    void nnx_round_bf16_f32(const float* x, float* y, Py_ssize_t n)

cdef Py_ssize_t BLOCK = 65536  # elements per task: large enough to amortise the scheduling


def round_bf16(const float[::1] x, float[::1] y, int n_threads):
    """y := x rounded to bfloat16 (nearest even, NaN kept); x and y of one length."""
    cdef Py_ssize_t n = x.shape[0], blocks = (n + BLOCK - 1) // BLOCK, i, lo
    if y.shape[0] != n:
        raise ValueError("round_bf16: x and y differ in length")
    if n == 0:
        return 0
    with nogil:
        for i in prange(blocks, num_threads=n_threads, schedule='static'):
            lo = i * BLOCK
            nnx_round_bf16_f32(&x[lo], &y[lo], min(BLOCK, n - lo))
    return 0


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"bf16 rounding": nnx_clone_name().decode()}
