# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Small GEMMs without BLAS, compiled tier.

Design: the wrapper (compiled.gemm) pads op(A) to a multiple of MR rows and op(B) to a
multiple of NR columns, so nnx_gemm.h's tile kernel sees only full tiles; C is computed into a
padded buffer and the wrapper copies the wanted block out (applying beta). Used for the small
products of LeNet-sized models: calling OpenBLAS for them wakes its thread pool, whose workers
then spin-yield for a long time after the call and halve the speed of the OpenMP kernels that
follow (measured: LeNet-5 training 6.0k -> 10k samples/s on 2 cores without that).
Threads: OpenMP, the same pool as every other compiled kernel.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._tiles cimport NNX_MR, NNX_NR, nnx_gemm_tiles_f32, nnx_gemm_tiles_f64

MR = NNX_MR
NR = NNX_NR


def gemm_tiles(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c, int n_threads):
    """c := a @ b for padded operands (rows of a and c: multiple of MR; columns of b and c:
    multiple of NR). The tiles are split between threads along whichever of M and N has more
    of them; every element is computed by the same sequence of operations whatever the split,
    so the result does not depend on the thread count. Returns 0, or -1 if a packing buffer
    could not be allocated."""
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef Py_ssize_t mb = m // NNX_MR, nb = n // NNX_NR, t, lo, hi, parts
    cdef bint by_cols = nb >= mb
    cdef int failed = 0
    cdef int* fail = &failed
    # The kernel writes whole tiles: refuse shapes that would make it write out of bounds.
    if m % NNX_MR or n % NNX_NR or b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(f"gemm_tiles: expected a (M, K) @ (K, N) -> (M, N) with M % {NNX_MR} == 0 "
                         f"and N % {NNX_NR} == 0, got {a.shape} @ {b.shape} -> {c.shape}")
    if m == 0 or n == 0:
        return 0
    parts = min(n_threads, nb if by_cols else mb)
    with nogil:
        for t in prange(parts, schedule='static', num_threads=parts):
            if by_cols:
                lo = nb * t // parts * NNX_NR
                hi = nb * (t + 1) // parts * NNX_NR
                if floating is float:
                    if nnx_gemm_tiles_f32(m, hi - lo, k, &a[0, 0], k, NULL, &b[0, 0] + lo, n, NULL,
                                          &c[0, 0] + lo, n, 0):
                        fail[0] = 1
                else:
                    if nnx_gemm_tiles_f64(m, hi - lo, k, &a[0, 0], k, NULL, &b[0, 0] + lo, n, NULL,
                                          &c[0, 0] + lo, n, 0):
                        fail[0] = 1
            else:
                lo = mb * t // parts * NNX_MR
                hi = mb * (t + 1) // parts * NNX_MR
                if floating is float:
                    if nnx_gemm_tiles_f32(hi - lo, n, k, &a[0, 0] + lo * k, k, NULL, &b[0, 0], n, NULL,
                                          &c[0, 0] + lo * n, n, 0):
                        fail[0] = 1
                else:
                    if nnx_gemm_tiles_f64(hi - lo, n, k, &a[0, 0] + lo * k, k, NULL, &b[0, 0], n, NULL,
                                          &c[0, 0] + lo * n, n, 0):
                        fail[0] = 1
    return -1 if failed else 0
