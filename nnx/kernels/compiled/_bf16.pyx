# cython: language_level=3
"""The compiled tier's bfloat16 rounding (nnx_bf16.h), for bf16 autocast.

Threads: OpenMP over fixed-size blocks; each element's result does not depend on the split.
"""
from cython.parallel cimport prange
from ._level cimport nnx_clone_name, nnx_level, nnx_set_level

cdef extern from "nnx_bf16.h" nogil:
    void nnx_round_bf16_f32(const float* x, float* y, Py_ssize_t n)

cdef extern from "nnx_bf16ops.h" nogil:
    int NNX_HAVE_BF16_NATIVE
    void nnx_dpbf16_soft_n(Py_ssize_t n, const float* acc, const unsigned int* a, const unsigned int* b,
                           float* out)
    void nnx_dpbf16_native_n(Py_ssize_t n, const float* acc, const unsigned int* a, const unsigned int* b,
                             float* out)
    void nnx_tdpbf16ps_soft_tile(float* dst, const unsigned int* a, const unsigned int* b)
    void nnx_tdpbf16ps_native_tile(float* dst, const unsigned int* a, const unsigned int* b)
    int NNX_AVX512_BF16, NNX_AMX

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


def dpbf16ps(const float[:, ::1] acc, const unsigned int[:, ::1] a, const unsigned int[:, ::1] b,
             float[:, ::1] out, bint native):
    """out[i] := vdpbf16ps(acc[i], a[i], b[i]) for each row of 16 lanes (a, b: 16 bf16 pairs a row):
    the instruction (``native``; needs the avx512_bf16 level) or its portable definition
    (nnx_bf16ops.h). For the tests: the two, and the reference tiers, must agree bit for bit."""
    cdef Py_ssize_t n = acc.shape[0]
    if acc.shape[1] != 16 or a.shape[1] != 16 or b.shape[1] != 16 or out.shape[1] != 16 or \
            a.shape[0] != n or b.shape[0] != n or out.shape[0] != n:
        raise ValueError("dpbf16ps: acc, a, b and out must all be (n, 16)")
    if native and (not NNX_HAVE_BF16_NATIVE or nnx_level < NNX_AVX512_BF16):
        raise ValueError("dpbf16ps: the native instruction needs the avx512_bf16 level")
    if n == 0:
        return
    with nogil:
        if native:
            nnx_dpbf16_native_n(n, &acc[0, 0], &a[0, 0], &b[0, 0], &out[0, 0])
        else:
            nnx_dpbf16_soft_n(n, &acc[0, 0], &a[0, 0], &b[0, 0], &out[0, 0])


def tdpbf16ps(float[:, ::1] dst, const unsigned int[:, ::1] a, const unsigned int[:, ::1] b, bint native):
    """dst (16 x 16) := tdpbf16ps(dst, a (16 rows x 16 pairs), b (16 pair rows x 16 columns)):
    the AMX instruction (``native``; needs the amx level) or its portable definition."""
    if dst.shape[0] != 16 or dst.shape[1] != 16 or a.shape[0] != 16 or a.shape[1] != 16 or \
            b.shape[0] != 16 or b.shape[1] != 16:
        raise ValueError("tdpbf16ps: dst, a and b must be 16 x 16")
    if native and (not NNX_HAVE_BF16_NATIVE or nnx_level < NNX_AMX):
        raise ValueError("tdpbf16ps: the native instruction needs the amx level")
    with nogil:
        if native:
            nnx_tdpbf16ps_native_tile(&dst[0, 0], &a[0, 0], &b[0, 0])
        else:
            nnx_tdpbf16ps_soft_tile(&dst[0, 0], &a[0, 0], &b[0, 0])
