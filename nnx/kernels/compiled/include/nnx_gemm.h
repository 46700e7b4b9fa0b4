/* nnx_gemm.h -- a register-tiled GEMM on full tiles, for the convolution kernels.
 *
 * C (M x N, row stride ldc) := A (M x K, row stride lda) * B (K x N, row stride ldb) [+ C]
 * with M a multiple of NNX_MR and N a multiple of 16 (the AVX-512 kernel takes N multiples of
 * NNX_NR = 32): the callers pad their scratch buffers (zero rows/columns) so that no edge tile
 * exists; that keeps this kernel short and every inner loop of constant trip count, which gcc
 * turns into vector FMAs.
 *
 * Why C: per-CPU clones (x86-64-v4 / x86-64-v3 / baseline, nnx_clones.h) of portable vector code.
 * The micro-kernel keeps an MR x NR block of C in registers while it walks K: per k it loads
 * one NR-wide row of B and broadcasts MR values of A. The accumulation order over k is the
 * plain order 0..K-1 for every element, whatever the ISA and whatever the thread count.
 * This is deliberately simple (B panels packed unless B is small, no cache blocking of K): the conv
 * shapes it serves have K <= a few thousand and N <= a few thousand per sample.
 */
#ifndef NNX_FN
#ifndef NNX_GEMM_H
#define NNX_GEMM_H
#include <stddef.h>
#include <stdlib.h>

#define NNX_MR 8
#define NNX_NR 32 /* the column multiple callers pad to; kernels step by 16 or 32 */
#define NNX_V 16  /* lanes of one vector value below */

/* GCC/clang vector extensions: a 16-lane vector is one zmm, two ymm or four xmm depending on
 * the clone, and the code stays portable C. The "u" types allow unaligned loads/stores. */
typedef float nnx_v16f __attribute__((vector_size(64)));
typedef float nnx_v16f_u __attribute__((vector_size(64), aligned(4)));
typedef double nnx_v16d __attribute__((vector_size(128)));
typedef double nnx_v16d_u __attribute__((vector_size(128), aligned(8)));

/* Measured on the AVX-512 dev machine (one core, GFLOP/s, shapes of the conv layers):
 * 4x16 unpacked 44-64, 8x16 unpacked 68-87, 8x16 with the B panel packed 70-102, 8x32 packed
 * 97-116. Packing matters because B's rows are ldb apart (4 KB for a 32x32 image): the packed
 * K x NV*16 panel is contiguous and is reused by every row block. 8x32 keeps 16 accumulator
 * vectors: right for AVX-512's 32 registers, but it would spill on AVX2's 16, so it is only
 * used by the x86-64-v4 clone (its nnx_gemm_tiles_f32 dispatches); elsewhere 8x16 tiles run
 * twice per 32-column panel. Every output element sums over k = 0..K-1 in order either way.
 * Returns -1 if the panel can't be allocated.
 * Row k of B starts at B + boff[k] when an offset table is given (else B + k*ldb), and row r of
 * A at A + aoff[r] (else A + r*lda): that lets the convolution use shifted views of the padded
 * image as the rows of its column matrix without building it. */
/* B spans at most this many bytes: read in place (measured, conv2's forward shape on Zen 3, one
 * thread: 78-80 GFLOP/s packed, 90-92 in place; a 32x32x32 image, 148 KB, stays packed) */
#define NNX_GEMM_DIRECT_BYTES (16 * 1024)
#define NNX_GEMM_TILES_BODY(T, V, VU, NV, RB)                                                 \
{                                                                                             \
    enum { L = (int)(sizeof(V) / sizeof(T)) }; /* lanes of V; NV * L columns per panel */     \
    /* B small enough to stay in L1 (a small image's shifted views, a conv's dY): read its rows  \
     * in place; else pack each panel (rows ldb apart would miss the cache and the TLB) */    \
    ptrdiff_t lo = 0, hi = K * ldb;                                                           \
    if (boff && K > 0) {                                                                      \
        lo = hi = boff[0];                                                                    \
        for (ptrdiff_t k = 1; k < K; k++) {                                                   \
            lo = boff[k] < lo ? boff[k] : lo;                                                 \
            hi = boff[k] > hi ? boff[k] : hi;                                                 \
        }                                                                                     \
    }                                                                                         \
    const int direct = (hi - lo + N) * (ptrdiff_t)sizeof(T) <= NNX_GEMM_DIRECT_BYTES;         \
    T *panel = direct ? NULL : (T *)malloc((size_t)(K > 0 ? K : 1) * L * (NV) * sizeof(T));   \
    if (!direct && panel == NULL) return -1;                                                  \
    for (ptrdiff_t j0 = 0; j0 < N; j0 += L * (NV)) {                                      \
        for (ptrdiff_t k = 0; !direct && k < K; k++)                                          \
            for (int v = 0; v < (NV); v++)                                                    \
                *(VU *)(panel + (k * (NV) + v) * L) =                                     \
                    *(const VU *)(B + (boff ? boff[k] : k * ldb) + j0 + v * L);           \
        for (ptrdiff_t m0 = 0; m0 < M; m0 += (RB)) {                                          \
            T *c = C + m0 * ldc + j0;                                                         \
            const T *ar[RB];                                                                  \
            for (int r = 0; r < (RB); r++)                                                    \
                ar[r] = A + (aoff ? aoff[m0 + r] : (m0 + r) * lda);                           \
            V acc[RB][NV];                                                                    \
            for (int r = 0; r < (RB); r++)                                                    \
                for (int v = 0; v < (NV); v++)                                                \
                    acc[r][v] = accumulate ? *(const VU *)(c + r * ldc + v * L) : (V){0}; \
            for (ptrdiff_t k = 0; k < K; k++) {                                               \
                V bk[NV];                                                                     \
                const T *bp = direct ? B + (boff ? boff[k] : k * ldb) + j0 : panel + k * (NV) * L; \
                for (int v = 0; v < (NV); v++)                                                \
                    bk[v] = *(const VU *)(bp + v * L);                                    \
                for (int r = 0; r < (RB); r++) {                                              \
                    const T a = ar[r][k];                                                     \
                    for (int v = 0; v < (NV); v++) acc[r][v] += a * bk[v];                    \
                }                                                                             \
            }                                                                                 \
            for (int r = 0; r < (RB); r++)                                                    \
                for (int v = 0; v < (NV); v++)                                                \
                    *(VU *)(c + r * ldc + v * L) = acc[r][v];                             \
        }                                                                                     \
    }                                                                                         \
    free(panel);                                                                              \
    return 0;                                                                                 \
}

#define NNX_GEMM_TILES_ARGS(T)                                                                \
    (ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *A, ptrdiff_t lda, const ptrdiff_t *aoff, \
     const T *B, ptrdiff_t ldb, const ptrdiff_t *boff, T *C, ptrdiff_t ldc, int accumulate)

/* 16 columns as two 8-float (four 4-double) vectors: one ymm each on AVX2. As one 64-byte
 * vector gcc 12 lowered them for AVX2 through the stack (LeNet-5 conv ~3x slower on Zen 3). */
typedef float nnx_v8f __attribute__((vector_size(32)));
typedef float nnx_v8f_u __attribute__((vector_size(32), aligned(4)));
typedef double nnx_v4d __attribute__((vector_size(32)));
typedef double nnx_v4d_u __attribute__((vector_size(32), aligned(8)));

#define NNX_DEFINE_GEMM_TILES(NAME, T, V, VU, NV, RB) \
static int NNX_FN(NAME) NNX_GEMM_TILES_ARGS(T) NNX_GEMM_TILES_BODY(T, V, VU, NV, RB)

/* C (M x N, ldc) := A (M x K, lda) * B^T [+ C], B given as N x K (ldb): each C element is a
 * dot product of two contiguous rows. Used for the weight gradient dW = dY cols^T, where both
 * operands are stored with the long pixel axis contiguous. M and N multiples of NNX_NT_B,
 * K a multiple of NNX_V (callers zero-pad). Row q of B starts at B + boff[q] if given.
 * Each C element keeps NNX_V lane sums (k mod NNX_V), reduced in a fixed pairwise order, so
 * the sum order depends neither on threads nor on the CPU. An RB x QB block of elements shares
 * the loads: 4 x 4 with 16-lane zmm (16 accumulators; 8 loads per 16 FMAs); on AVX2 a 16-lane
 * sum is two ymm, so 4 x 4 needed 32 of its 16 registers and spilled (LeNet's conv1 dW took
 * 1.5 ms): there 2 x 2 (8 accumulators, no spill; 1.13x on that gradient). */
#define NNX_NT_B 4

#define NNX_GEMM_NT_ARGS(T)                                                                   \
    (ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, \
     const ptrdiff_t *boff, T *C, ptrdiff_t ldc, int accumulate)
#define NNX_DEFINE_GEMM_NT(NAME, T, V, VU, RB, QB)                                            \
static void NNX_FN(NAME) NNX_GEMM_NT_ARGS(T)                                                 \
{                                                                                             \
    enum { L = (int)(sizeof(V) / sizeof(T)), H = NNX_V / L }; /* NNX_V lanes as H vectors */  \
    for (ptrdiff_t m0 = 0; m0 < M; m0 += RB) {                                                \
        for (ptrdiff_t n0 = 0; n0 < N; n0 += QB) {                                            \
            V acc[RB][QB][H];                                                                 \
            const T *brow[QB];                                                                \
            for (int q = 0; q < QB; q++)                                                      \
                brow[q] = B + (boff ? boff[n0 + q] : (n0 + q) * ldb);                         \
            for (int r = 0; r < RB; r++)                                                      \
                for (int q = 0; q < QB; q++)                                                  \
                    for (int h = 0; h < H; h++) acc[r][q][h] = (V){0};                        \
            for (ptrdiff_t k = 0; k < K; k += NNX_V) {                                        \
                for (int h = 0; h < H; h++) {                                                 \
                    V av[RB], bv[QB];                                                         \
                    for (int r = 0; r < RB; r++)                                              \
                        av[r] = *(const VU *)(A + (m0 + r) * lda + k + h * L);                \
                    for (int q = 0; q < QB; q++) bv[q] = *(const VU *)(brow[q] + k + h * L); \
                    for (int r = 0; r < RB; r++)                                              \
                        for (int q = 0; q < QB; q++) acc[r][q][h] += av[r] * bv[q];           \
                }                                                                             \
            }                                                                                 \
            for (int r = 0; r < RB; r++)                                                      \
                for (int q = 0; q < QB; q++) {                                                \
                    T lanes[NNX_V];                                                           \
                    for (int h = 0; h < H; h++) *(VU *)(lanes + h * L) = acc[r][q][h];        \
                    for (int w = NNX_V / 2; w > 0; w /= 2)                                    \
                        for (int l = 0; l < w; l++) lanes[l] += lanes[l + w];                 \
                    T *c = C + (m0 + r) * ldc + n0 + q;                                       \
                    *c = accumulate ? *c + lanes[0] : lanes[0];                               \
                }                                                                             \
        }                                                                                     \
    }                                                                                         \
}


/* N of nnx_gemm_tiles_f32/_f64 must be a multiple of NNX_PANEL; a multiple of
 * nnx_gemm_ncols_f32() (32 where the x86-64-v4 kernel runs) lets float take its fastest kernel,
 * so callers pad scratch columns to that. */
#define NNX_PANEL 16

#define NNX_GEMM_FNS(X)                                                                       \
    X(int, nnx_gemm_tiles_f32, NNX_GEMM_TILES_ARGS(float))                                    \
    X(int, nnx_gemm_tiles_f64, NNX_GEMM_TILES_ARGS(double))                                   \
    X(void, nnx_gemm_nt_f32, NNX_GEMM_NT_ARGS(float))                                         \
    X(void, nnx_gemm_nt_f64, NNX_GEMM_NT_ARGS(double))                                        \
    X(int, nnx_gemm_ncols_f32, (void))

#define NNX_CLONE_FILE "nnx_gemm.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_gemm, NNX_GEMM_FNS)
#define nnx_gemm_tiles_f32 NNX_CALL(nnx_gemm, nnx_gemm_tiles_f32)
#define nnx_gemm_tiles_f64 NNX_CALL(nnx_gemm, nnx_gemm_tiles_f64)
#define nnx_gemm_nt_f32 NNX_CALL(nnx_gemm, nnx_gemm_nt_f32)
#define nnx_gemm_nt_f64 NNX_CALL(nnx_gemm, nnx_gemm_nt_f64)
#define nnx_gemm_ncols_f32 NNX_CALL(nnx_gemm, nnx_gemm_ncols_f32)
#endif
#else /* the clone body */

#ifndef NNX_RB_X16
#define NNX_RB_X16 4
#endif
NNX_DEFINE_GEMM_TILES(nnx_gemm_tiles_x16_f32, float, nnx_v8f, nnx_v8f_u, 2, NNX_RB_X16)
NNX_DEFINE_GEMM_TILES(nnx_gemm_tiles_f64, double, nnx_v4d, nnx_v4d_u, 4, NNX_MR)
NNX_DEFINE_GEMM_NT(nnx_gemm_nt_f64, double, nnx_v4d, nnx_v4d_u, 4, 4)

#if NNX_ISA == 2
NNX_DEFINE_GEMM_TILES(nnx_gemm_tiles_x32_f32, float, nnx_v16f, nnx_v16f_u, 2, NNX_MR)
static int NNX_FN(nnx_gemm_tiles_f32) NNX_GEMM_TILES_ARGS(float)
{
    /* 32-column panels where they fit; a 16-wide N (a conv's dW^T with 16 output channels)
     * takes the 16-column kernel, whose x86-64-v4 clone has registers to spare */
    return (N % 32 == 0 ? NNX_FN(nnx_gemm_tiles_x32_f32) : NNX_FN(nnx_gemm_tiles_x16_f32))(
        M, N, K, A, lda, aoff, B, ldb, boff, C, ldc, accumulate);
}
static int NNX_FN(nnx_gemm_ncols_f32)(void) { return 32; }
/* the 16 lanes in one zmm (same per-lane sums and reduction as the 2 x 2 form, so the same bits) */
NNX_DEFINE_GEMM_NT(nnx_gemm_nt_f32, float, nnx_v16f, nnx_v16f_u, 4, 4)
#else
static int NNX_FN(nnx_gemm_tiles_f32) NNX_GEMM_TILES_ARGS(float)
{
    return NNX_FN(nnx_gemm_tiles_x16_f32)(M, N, K, A, lda, aoff, B, ldb, boff, C, ldc, accumulate);
}
static int NNX_FN(nnx_gemm_ncols_f32)(void) { return 16; }
NNX_DEFINE_GEMM_NT(nnx_gemm_nt_f32, float, nnx_v8f, nnx_v8f_u, 2, 2)
#endif

#endif
