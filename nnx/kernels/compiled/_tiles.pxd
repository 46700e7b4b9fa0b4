# Declarations of nnx_gemm.h (the register-tiled GEMM kernels of the convolutions, _conv.pyx).
cdef extern from "nnx_gemm.h" nogil:
    int NNX_MR
    int NNX_NR
    int NNX_NT_B
    int NNX_PANEL
    int nnx_gemm_ncols_f32()
    int nnx_gemm_tiles_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t lda,
                           const Py_ssize_t* aoff, const float* B, Py_ssize_t ldb,
                           const Py_ssize_t* boff, float* C, Py_ssize_t ldc, int accumulate)
    int nnx_gemm_tiles_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* A, Py_ssize_t lda,
                           const Py_ssize_t* aoff, const double* B, Py_ssize_t ldb,
                           const Py_ssize_t* boff, double* C, Py_ssize_t ldc, int accumulate)
    void nnx_gemm_nt_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* A, Py_ssize_t lda,
                         const float* B, Py_ssize_t ldb, const Py_ssize_t* boff, float* C,
                         Py_ssize_t ldc, int accumulate)
    void nnx_gemm_nt_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* A, Py_ssize_t lda,
                         const double* B, Py_ssize_t ldb, const Py_ssize_t* boff, double* C,
                         Py_ssize_t ldc, int accumulate)
