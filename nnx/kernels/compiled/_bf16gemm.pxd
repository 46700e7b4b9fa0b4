# Declarations of nnx_gemm_bf16.h (the bf16 GEMM kernels: vdpbf16ps and AMX, native and portable),
# for _gemm.pyx (Linear) and _conv.pyx (the convolutions).
cdef extern from "nnx_gemm_bf16.h" nogil:
    ctypedef struct nnx_bf16_operand:
        const float* x
        Py_ssize_t rs, cs
        const Py_ssize_t* ro
        const Py_ssize_t* co
    ctypedef void (*nnx_bf16_gemm_t)(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, nnx_bf16_operand A,
                                     nnx_bf16_operand B, float* C, Py_ssize_t ldc, int load_c,
                                     const float* bias, int relu, unsigned int* abuf, unsigned int* bbuf)
    ctypedef struct nnx_bf16_kernel:
        nnx_bf16_gemm_t gemm
        int mr, nr, kc, mc, nc
        const char* name
    nnx_bf16_kernel nnx_bf16_kernels[]
    int NNX_BF16_NPATHS
    Py_ssize_t nnx_bf16_abuf_words(int path, Py_ssize_t m, Py_ssize_t k)
    Py_ssize_t nnx_bf16_bbuf_words(int path, Py_ssize_t n, Py_ssize_t k)
