/* nnx_blocked.h -- the pieces of nnx's blocked GEMM: packing and register-tiled micro-kernels.
 *
 * The loops around them live in _gemm.pyx (gemm_blocked): for one macro-tile of C, for each
 * KC-deep slice of K, pack the slice of op(B) into NR-wide column panels and the slice of
 * op(A) into MR-high row panels (zero-padded at the edges, so the micro-kernel never reads out
 * of bounds and its loops have constant trip counts), then run the micro-kernel on every
 * MR x NR tile. This is the GotoBLAS/BLIS structure:
 *
 *   packed B micro-panel  KC x NR   reused by every row panel     -> stays in L1
 *   packed A block        MC x KC   reused by every column panel  -> stays in L2
 *   C tile                MR x NR   in registers for a whole KC slice
 *
 * Packing also makes transposes and arbitrary strides free for the kernel: op(A)[i, k] is
 * read as A[i * rsa + k * csa], whatever the layout.
 *
 * Determinism: each C element is the sum over its KC slices, in order, of that slice's products
 * accumulated over k in order (KC is a constant, not a function of the thread count), so the
 * result is the same for every thread count and every split of C into macro-tiles.
 *
 * Packing a row-major A panel or a transposed B panel goes through 8x8 register transposes
 * (measured: the MLP's x @ W^T went from ~106 to ~125 GFLOP/s on one thread); a 12 x 32 kernel
 * (24 accumulators) measured the same as 8 x 32 and was dropped.
 *
 * Micro-kernels, one set per CPU level (nnx_clones.h; the level in force picks the row):
 *   float32  x86-64-v4: 8 x 32 (16 zmm accumulators)    else: 6 x 16 (12 ymm on AVX2)
 *   float64  x86-64-v4: 8 x 16 (16 zmm accumulators)    else: 6 x 8  (12 ymm on AVX2)
 * The epilogue of the last KC slice can add a bias per column and apply ReLU, so Linear(+ReLU)
 * writes its output once.
 */
#ifndef NNX_FN
#ifndef NNX_BLOCKED_H
#define NNX_BLOCKED_H
#include <stddef.h>
#include <string.h>

typedef float nnx_blk16f __attribute__((vector_size(64)));           /* 16 floats  */
typedef float nnx_blk16fu __attribute__((vector_size(64), aligned(4)));
typedef int nnx_blk16i __attribute__((vector_size(64)));
typedef double nnx_bd8 __attribute__((vector_size(64)));           /* 8 doubles  */
typedef double nnx_bd8u __attribute__((vector_size(64), aligned(8)));
typedef long long nnx_bl8 __attribute__((vector_size(64)));

/* 8 x 8 block transpose in registers (the unpack / shuffle / 128-bit-lane steps of the classic
 * AVX transpose, written with GCC's __builtin_shuffle so it stays portable C): src rows r < rows
 * at src + r*ld (8 contiguous values each; rows 6 or 8, the missing ones read as zeros), dst
 * rows j at dst + j*ldd get column j of the block. The 8-value rows are stored in order j = 0..7,
 * so with ldd = 6 each store's two extra lanes land on the next row and are then overwritten;
 * only the last one writes 2 values past dst + 48 (the caller makes sure that is allowed).
 * Packing a row-major A panel, or a transposed B panel, is a sequence of these. */
typedef float nnx_t8f __attribute__((vector_size(32)));
typedef float nnx_t8fu __attribute__((vector_size(32), aligned(4)));
typedef int nnx_t8fi __attribute__((vector_size(32)));
typedef double nnx_t8d __attribute__((vector_size(64)));
typedef double nnx_t8du __attribute__((vector_size(64), aligned(8)));
typedef long long nnx_t8di __attribute__((vector_size(64)));

#define NNX_DEFINE_T8(NAME, T, V, VU, VI)                                                     \
static inline __attribute__((always_inline)) void NAME(const T *src, ptrdiff_t ld, int rows,  \
                                                       T *dst, ptrdiff_t ldd)                 \
{                                                                                             \
    const VI lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};              \
    const VI s44 = {0, 1, 8, 9, 4, 5, 12, 13}, sEE = {2, 3, 10, 11, 6, 7, 14, 15};            \
    const VI h0 = {0, 1, 2, 3, 8, 9, 10, 11}, h1 = {4, 5, 6, 7, 12, 13, 14, 15};              \
    V r[8], t[8], u[8], o[8];                                                                 \
    for (int i = 0; i < 8; i++) r[i] = i < rows ? *(const VU *)(src + i * ld) : (V){0};      \
    for (int i = 0; i < 8; i += 2) {                                                          \
        t[i] = __builtin_shuffle(r[i], r[i + 1], lo);                                         \
        t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi);                                     \
    }                                                                                         \
    for (int i = 0; i < 8; i += 4) {                                                          \
        u[i] = __builtin_shuffle(t[i], t[i + 2], s44);                                        \
        u[i + 1] = __builtin_shuffle(t[i], t[i + 2], sEE);                                    \
        u[i + 2] = __builtin_shuffle(t[i + 1], t[i + 3], s44);                                \
        u[i + 3] = __builtin_shuffle(t[i + 1], t[i + 3], sEE);                                \
    }                                                                                         \
    for (int j = 0; j < 4; j++) {                                                             \
        o[j] = __builtin_shuffle(u[j], u[j + 4], h0);                                         \
        o[j + 4] = __builtin_shuffle(u[j], u[j + 4], h1);                                     \
    }                                                                                         \
    for (int j = 0; j < 8; j++) *(VU *)(dst + j * ldd) = o[j];                               \
}

NNX_DEFINE_T8(nnx_t8_f32, float, nnx_t8f, nnx_t8fu, nnx_t8fi)
NNX_DEFINE_T8(nnx_t8_f64, double, nnx_t8d, nnx_t8du, nnx_t8di)

/* The 6-row kernels, for CPUs without AVX-512: a row of 16 floats (8 doubles) is held as two
 * 32-byte vectors, i.e. two ymm on AVX2, 12 accumulators in all. (Written as one 64-byte vector,
 * gcc 12 lowers it for AVX2 through the stack: measured 6.9 instead of ~80 GFLOP/s on Zen 3.)
 * Same memory layout and the same operations per element as a 64-byte row. */
typedef double nnx_vd4 __attribute__((vector_size(32)));
typedef double nnx_vd4u __attribute__((vector_size(32), aligned(8)));
typedef long long nnx_vl4 __attribute__((vector_size(32)));
typedef void (*nnx_uk_f32_t)(ptrdiff_t, const float *, const float *, float *, ptrdiff_t, int,
                             int, const float *, int);
typedef void (*nnx_uk_f64_t)(ptrdiff_t, const double *, const double *, double *, ptrdiff_t, int,
                             int, const double *, int);

#define NNX_BLOCKED_FNS(X)                                                                    \
    X(void, nnx_pack_f32, (ptrdiff_t m, ptrdiff_t kc, const float *x, ptrdiff_t rs, ptrdiff_t cs, \
                           float *dst, int w))                                                \
    X(void, nnx_pack_f64, (ptrdiff_t m, ptrdiff_t kc, const double *x, ptrdiff_t rs, ptrdiff_t cs, \
                           double *dst, int w))                                               \
    X(void, nnx_uk_f32, (ptrdiff_t, const float *, const float *, float *, ptrdiff_t, int, int, \
                         const float *, int))                                                 \
    X(void, nnx_uk_f64, (ptrdiff_t, const double *, const double *, double *, ptrdiff_t, int, int, \
                         const double *, int))                                                \
    X(void, nnx_uk_narrow_f32, (ptrdiff_t, const float *, const float *, float *, ptrdiff_t, int, \
                                int, const float *, int))                                     \
    X(void, nnx_uk_narrow_f64, (ptrdiff_t, const double *, const double *, double *, ptrdiff_t, int, \
                                int, const double *, int))

#define NNX_CLONE_FILE "nnx_blocked.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_blocked, NNX_BLOCKED_FNS)
#define nnx_pack_f32 NNX_CALL(nnx_blocked, nnx_pack_f32)
#define nnx_pack_f64 NNX_CALL(nnx_blocked, nnx_pack_f64)
#define nnx_uk_f32 NNX_CALL(nnx_blocked, nnx_uk_f32)
#define nnx_uk_f64 NNX_CALL(nnx_blocked, nnx_uk_f64)
#define nnx_uk_narrow_f32 NNX_CALL(nnx_blocked, nnx_uk_narrow_f32)
#define nnx_uk_narrow_f64 NNX_CALL(nnx_blocked, nnx_uk_narrow_f64)

/* The tile of each level's kernels: 0 baseline and 1 x86-64-v3 the 6-row kernels, 2 x86-64-v4
 * the 8-row ones (a build without clones has the baseline kernels in every row). */
static const struct {
    int mr_f32, nr_f32, mr_f64, nr_f64, mr_narrow, nr_narrow_f32, nr_narrow_f64;
    const char *name;
} nnx_blocked_geom[3] __attribute__((unused)) = {
    {6, 16, 6, 8, 6, 16, 8, "6x16 float32 / 6x8 float64 (baseline)"},
#if NNX_HAVE_CLONES
    {6, 16, 6, 8, 6, 16, 8, "6x16 float32 / 6x8 float64 (x86-64-v3)"},
    {8, 32, 8, 16, 8, 16, 8, "8x32 float32 / 8x16 float64 (x86-64-v4)"},
#else
    {6, 16, 6, 8, 6, 16, 8, "6x16 float32 / 6x8 float64 (baseline)"},
    {6, 16, 6, 8, 6, 16, 8, "6x16 float32 / 6x8 float64 (baseline)"},
#endif
};
#define nnx_mr_f32 (nnx_blocked_geom[nnx_isa].mr_f32)
#define nnx_nr_f32 (nnx_blocked_geom[nnx_isa].nr_f32)
#define nnx_mr_f64 (nnx_blocked_geom[nnx_isa].mr_f64)
#define nnx_nr_f64 (nnx_blocked_geom[nnx_isa].nr_f64)
#define NNX_MR_NARROW (nnx_blocked_geom[nnx_isa].mr_narrow)
#define NNX_NR_NARROW_F32 (nnx_blocked_geom[nnx_isa].nr_narrow_f32)
#define NNX_NR_NARROW_F64 (nnx_blocked_geom[nnx_isa].nr_narrow_f64)
#define nnx_uk_name (nnx_blocked_geom[nnx_isa].name)

/* Run the micro-kernel on a tile with fewer than nr valid columns through a local buffer, so
 * nothing outside C's valid part is read or written. */
#define NNX_DEFINE_EDGE(NAME, T, UKT)                                                         \
static void NAME(UKT uk, ptrdiff_t kc, const T *a, const T *b, T *c, ptrdiff_t ldc, int rows, \
                 int cols, int load_c, const T *bias, int relu, int mr, int nr)               \
{                                                                                             \
    T tile[16 * 32] __attribute__((aligned(64))); /* mr <= 16, nr <= 32 */                    \
    T bpad[32] __attribute__((aligned(64)));                                                  \
    for (int r = 0; r < mr; r++)                                                              \
        for (int j = 0; j < nr; j++)                                                          \
            tile[r * nr + j] = (load_c && r < rows && j < cols) ? c[r * ldc + j] : 0;         \
    if (bias) {                                                                               \
        for (int j = 0; j < nr; j++) bpad[j] = j < cols ? bias[j] : 0;                        \
    }                                                                                         \
    uk(kc, a, b, tile, nr, mr, 1, bias ? bpad : NULL, relu);                                  \
    for (int r = 0; r < rows; r++)                                                            \
        for (int j = 0; j < cols; j++) c[r * ldc + j] = tile[r * nr + j];                     \
}

NNX_DEFINE_EDGE(nnx_edge_f32, float, nnx_uk_f32_t)
NNX_DEFINE_EDGE(nnx_edge_f64, double, nnx_uk_f64_t)

#endif
#else /* the clone body */

/* Pack rows [0, m) x cols [0, kc) of a matrix X (element (i, k) at x[i*rs + k*cs]) into panels
 * of w rows: panel p holds, for k = 0..kc-1, the w values of rows p*w .. p*w+w-1 contiguously.
 * Rows past m are zeros. op(A) is packed as it is (w = MR); op(B) as its transpose (the rows
 * are op(B)'s columns, w = NR, rs and cs swapped): the micro-kernel reads both panels the
 * same way, one k at a time. */
#define NNX_DEFINE_PACK(NAME, T, T8, SIX)                                                     \
static void NNX_FN(NAME)(ptrdiff_t m, ptrdiff_t kc, const T *x, ptrdiff_t rs,        \
                                  ptrdiff_t cs, T *dst, int w)                                \
{                                                                                             \
    for (ptrdiff_t i0 = 0; i0 < m; i0 += w) {                                                 \
        T *p = dst + i0 * kc;                                                                 \
        const T *x0 = x + i0 * rs;                                                            \
        int rows = (int)(m - i0 < w ? m - i0 : w);                                            \
        ptrdiff_t k0 = 0;                                                                     \
        if (rs == 1) { /* the w values of one k are contiguous: plain copies */              \
            for (ptrdiff_t k = 0; k < kc; k++) {                                              \
                const T *src = x0 + k * cs;                                                   \
                T *q = p + k * w;                                                             \
                if (rows == w && w == 32) { for (int r = 0; r < 32; r++) q[r] = src[r]; }     \
                else if (rows == w && w == 16) { for (int r = 0; r < 16; r++) q[r] = src[r]; } \
                else {                                                                        \
                    for (int r = 0; r < rows; r++) q[r] = src[r];                             \
                    for (int r = rows; r < w; r++) q[r] = 0;                                  \
                }                                                                             \
            }                                                                                 \
            continue;                                                                         \
        }                                                                                     \
        if (cs == 1 && rows == w && w % 8 == 0) { /* rows contiguous in k: 8x8 transposes */ \
            for (; k0 + 8 <= kc; k0 += 8)                                                     \
                for (int r8 = 0; r8 < w; r8 += 8) T8(x0 + r8 * rs + k0, rs, 8, p + k0 * w + r8, w); \
        } else if (SIX && cs == 1 && rows == w && w == 6) { /* AVX2's 6 rows: 6x8 blocks,    \
            * except where the 2 values written past a block would leave this call's panels   \
            * (float32 only: 64-byte double vectors on AVX2 measured slower than the loop) */ \
            for (; k0 + 8 <= kc && (k0 + 8 < kc || i0 + w < m); k0 += 8)                     \
                T8(x0 + k0, rs, 6, p + k0 * 6, 6);                                            \
        }                                                                                     \
        /* the rest k by k: the panel is written once, in order; the w source rows are read   \
         * in parallel streams that stay in L1 */                                            \
        for (ptrdiff_t k = k0; k < kc; k++) {                                                 \
            const T *src = x0 + k * cs;                                                       \
            T *q = p + k * w;                                                                 \
            for (int r = 0; r < rows; r++) q[r] = src[r * rs];                                \
            for (int r = rows; r < w; r++) q[r] = 0;                                          \
        }                                                                                     \
    }                                                                                         \
}


/* C tile (MR x NV*L values at c, row stride ldc) := [C +] a_panel * b_panel [+ bias] [ReLU];
 * only the first `rows` rows of C are read and written (the packed A panel is zero-padded). 
 * load_c: start from the values in C (later KC slices, or beta != 0); else from zero.
 * bias: NV*L values added to every row (or NULL). relu: y = 0 where y <= 0 (NaN passes, as
 * nnx's relu). ReLU is a bit mask: keep the bits where !(y <= 0). */
#define NNX_DEFINE_UKERNEL(NAME, T, V, VU, VI, MR, NV)                                        \
static void NNX_FN(NAME)(ptrdiff_t kc, const T *restrict a, const T *restrict b, T *restrict c,  \
                      ptrdiff_t ldc, int rows, int load_c, const T *bias, int relu)           \
{                                                                                             \
    enum { L = (int)(sizeof(V) / sizeof(T)) };                                                \
    V acc[MR][NV];                                                                            \
    /* C is added after the k loop, and its lines are requested now, so a C tile that is not   \
     * in cache arrives while the FMAs run instead of stalling them. */                        \
    if (load_c) {                                                                             \
        for (int r = 0; r < rows; r++)                                                        \
            for (int v = 0; v < NV; v++) __builtin_prefetch(c + r * ldc + v * L, 1, 3);      \
    }                                                                                         \
    for (int r = 0; r < MR; r++)                                                              \
        for (int v = 0; v < NV; v++) acc[r][v] = (V){0};                                      \
    for (ptrdiff_t k = 0; k < kc; k++) {                                                      \
        V bk[NV];                                                                             \
        for (int v = 0; v < NV; v++) bk[v] = *(const V *)(b + k * (NV * L) + v * L);          \
        for (int r = 0; r < MR; r++) {                                                        \
            const T s = a[k * MR + r];                                                        \
            for (int v = 0; v < NV; v++) acc[r][v] += s * bk[v];                              \
        }                                                                                     \
    }                                                                                         \
    if (load_c) {                                                                             \
        for (int r = 0; r < MR; r++)                                                          \
            if (r < rows)                                                                     \
                for (int v = 0; v < NV; v++) acc[r][v] += *(const VU *)(c + r * ldc + v * L); \
    }                                                                                         \
    if (bias) {                                                                               \
        for (int v = 0; v < NV; v++) {                                                        \
            V bv = *(const VU *)(bias + v * L);                                               \
            for (int r = 0; r < MR; r++) acc[r][v] += bv;                                     \
        }                                                                                     \
    }                                                                                         \
    if (relu) {                                                                               \
        for (int r = 0; r < MR; r++)                                                          \
            for (int v = 0; v < NV; v++)                                                      \
                acc[r][v] = (V)((VI)acc[r][v] & ~(VI)(acc[r][v] <= (V){0}));                  \
    }                                                                                         \
    for (int r = 0; r < MR; r++)                                                              \
        if (r < rows)                                                                         \
            for (int v = 0; v < NV; v++) *(VU *)(c + r * ldc + v * L) = acc[r][v];            \
}

/* Products with few columns (the 10-class layer: N = 10) waste most of a 32-wide tile: they
 * take the narrow kernel instead (x86-64-v4: 8 x 16 float32 / 8 x 8 float64, one zmm per row;
 * elsewhere the main kernel, already 16 wide). It performs the same operations per element (k in
 * order, one FMA each, then C, bias, ReLU), so the result does not depend on which kernel ran. */
#if NNX_ISA == 2
NNX_DEFINE_UKERNEL(nnx_uk_f32, float, nnx_blk16f, nnx_blk16fu, nnx_blk16i, 8, 2)
NNX_DEFINE_UKERNEL(nnx_uk_f64, double, nnx_bd8, nnx_bd8u, nnx_bl8, 8, 2)
NNX_DEFINE_UKERNEL(nnx_uk_narrow_f32, float, nnx_blk16f, nnx_blk16fu, nnx_blk16i, 8, 1)
NNX_DEFINE_UKERNEL(nnx_uk_narrow_f64, double, nnx_bd8, nnx_bd8u, nnx_bl8, 8, 1)
#else
NNX_DEFINE_UKERNEL(nnx_uk_f32, float, nnx_t8f, nnx_t8fu, nnx_t8fi, 6, 2)
NNX_DEFINE_UKERNEL(nnx_uk_f64, double, nnx_vd4, nnx_vd4u, nnx_vl4, 6, 2)
static void NNX_FN(nnx_uk_narrow_f32)(ptrdiff_t kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                                      int rows, int load_c, const float *bias, int relu)
{
    NNX_FN(nnx_uk_f32)(kc, a, b, c, ldc, rows, load_c, bias, relu);
}
static void NNX_FN(nnx_uk_narrow_f64)(ptrdiff_t kc, const double *a, const double *b, double *c, ptrdiff_t ldc,
                                      int rows, int load_c, const double *bias, int relu)
{
    NNX_FN(nnx_uk_f64)(kc, a, b, c, ldc, rows, load_c, bias, relu);
}
#endif
NNX_DEFINE_PACK(nnx_pack_f32, float, nnx_t8_f32, 1)
NNX_DEFINE_PACK(nnx_pack_f64, double, nnx_t8_f64, 0)

#endif
