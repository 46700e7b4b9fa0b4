# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Small GEMMs without BLAS, compiled tier.

Design: the wrapper (compiled.gemm) pads op(A) to a multiple of MR rows and op(B) to a
multiple of NR columns, so nnx_gemm.h's tile kernel sees only full tiles; C is computed into a
padded buffer and the wrapper copies the wanted block out (applying beta). Used for the small
products of LeNet-sized models: calling OpenBLAS for them wakes its thread pool, whose workers
then spin-yield for a long time after the call and halve the speed of the OpenMP kernels that
follow (measured: LeNet-5 training 6.0k -> 10k samples/s on 2 cores without that).
Single-threaded by design: the products it takes are tiny.
"""
from cython cimport floating

cdef extern from "nnx_gemm.h" nogil:
    int NNX_MR
    int NNX_NR
    int nnx_gemm_tiles_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t lda,
                           const Py_ssize_t* aoff, const float* B, Py_ssize_t ldb,
                           const Py_ssize_t* boff, float* C, Py_ssize_t ldc, int accumulate)
    int nnx_gemm_tiles_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* A, Py_ssize_t lda,
                           const Py_ssize_t* aoff, const double* B, Py_ssize_t ldb,
                           const Py_ssize_t* boff, double* C, Py_ssize_t ldc, int accumulate)

MR = NNX_MR
NR = NNX_NR


def gemm_tiles(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c):
    """c := a @ b for padded operands (rows of a and c: multiple of MR; columns of b and c:
    multiple of NR). Returns 0, or -1 if the packing buffer could not be allocated."""
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef int status
    if m == 0 or n == 0:
        return 0
    with nogil:
        if floating is float:
            status = nnx_gemm_tiles_f32(m, n, k, &a[0, 0], k, NULL, &b[0, 0], n, NULL, &c[0, 0], n, 0)
        else:
            status = nnx_gemm_tiles_f64(m, n, k, &a[0, 0], k, NULL, &b[0, 0], n, NULL, &c[0, 0], n, 0)
    return status
