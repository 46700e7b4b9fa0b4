/* nnx_gemm_bf16.h -- bf16 GEMMs with float32 accumulation: vdpbf16ps (AVX512_BF16) and AMX tiles.
 *
 * C (M x N, float32) := op(A) op(B) (+ beta C) [+ bias] [ReLU], A and B float32, rounded to bf16
 * (nearest even, nnx_bf16.h) while they are packed: no separate conversion pass. The loops are
 * the blocked GEMM's (nnx_blocked.h, _gemm.pyx): per KC slice of K, op(B)'s slice is packed into
 * 32-column panels of bf16 pairs ("VNNI": word p of column j holds rows 2p and 2p+1, the even row
 * in the low half), and per MC block of rows op(A)'s slice is packed into pairs along K; the
 * micro-kernel runs over the tiles. K is padded with zeros to whole pairs (AMX: whole 16-pair tile
 * rows).
 *
 * The arithmetic of each path (what tests/test_bf16_kernels.py and the reference tiers check):
 * every C element is one accumulator, started at beta * C (0 when beta is 0) and carried through
 * the KC slices in C itself, updated pair after pair in K's order by the instruction (its DAZ,
 * FTZ and pair order: nnx_bf16ops.h), then + bias and ReLU in plain float32. So the result
 * depends on neither the thread count nor the split into tiles and slices.
 *   avx512_bf16: per pair, acc = fma(a_even, b_even, fma(a_odd, b_odd, acc)).
 *   amx: per 16-pair tile row chunk k0..k0+15 (the kernel's KC is a multiple of 32 elements),
 *        e = o = 0; e += a_even * b_even, o += a_odd * b_odd over the 16 pairs (fma each);
 *        acc = acc + (e + o).
 *
 * Four builds of one body (the clone pattern of nnx_clones.h, with NNX_BFN naming them):
 *   0 avx512_bf16           vdpbf16ps                 compiled for x86-64-v4 + AVX512_BF16
 *   1 avx512_bf16-portable  nnx_dpbf16_soft           compiled for the baseline: any CPU
 *   2 amx                   ldtilecfg, tdpbf16ps ...  compiled for x86-64-v4 + AMX-TILE/-BF16
 *   3 amx-portable          nnx_soft_tile_*           compiled for the baseline: any CPU
 * The portable builds give the native ones' bits (tested bit for bit where the CPU has the
 * instruction), so the kernels of a CPU nnx's developers lack are still built and tested.
 *
 * Micro-kernels. vdpbf16ps: 12 rows x 32 columns, 24 zmm accumulators, per pair 2 loads of B and
 * 12 broadcast A pairs for 24 vdpbf16ps (each 32 multiply-adds, twice an fp32 FMA's). AMX: 32 x 32
 * as 2 x 2 tiles of 16 x 16 float32 (tmm0-3), A as two 16-row tiles of 16 pairs (tmm4-5), B as two
 * 16-pair x 16-column tiles (tmm6-7): 4 tdpbf16ps per 16 pairs.
 */
#ifndef NNX_BFN
#ifndef NNX_GEMM_BF16_H
#define NNX_GEMM_BF16_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "nnx_bf16.h"    /* nnx_bf16_round_bits */
#include "nnx_bf16ops.h" /* the instructions, native and portable */

#define NNX_BF16_NR 32
#define NNX_BF16_KC 512  /* elements of K per slice: a multiple of 32 (AMX's 16-pair tile rows) */
#define NNX_BF16_MC 96   /* rows of A per packed block: a multiple of both kernels' MR (12, 32) */
#define NNX_BF16_NC 1024 /* columns of B per packed slice */

/* a bf16 pair word from two float32 values: round both to bf16, keep the high halves */
static inline __attribute__((always_inline)) uint32_t nnx_bf16_pair(float lo, float hi)
{
    uint32_t l, h;
    memcpy(&l, &lo, 4);
    memcpy(&h, &hi, 4);
    return (nnx_bf16_round_bits(h) & 0xffff0000u) | (nnx_bf16_round_bits(l) >> 16);
}

/* 16 pair words from 32 consecutive floats (pairs (f[2i], f[2i+1])): both halves rounded as
 * nnx_bf16_round_bits does, the even elements' high halves gathered into the low words' halves. */
static inline __attribute__((always_inline)) nnx_v16u nnx_bf16_pairs16(const float *f)
{
    const nnx_v16u even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const nnx_v16u odd = even + 1;
    nnx_v16u u[2];
    for (int h = 0; h < 2; h++) {
        nnx_v16u v;
        memcpy(&v, f + 16 * h, 64);
        const nnx_v16u rounded = (v + 0x7fffu + ((v >> 16) & 1u)) & 0xffff0000u;
        const nnx_v16u quiet = (v | 0x00400000u) & 0xffff0000u;
        const nnx_v16u nan = (nnx_v16u)((v & 0x7fffffffu) > 0x7f800000u);
        u[h] = (rounded & ~nan) | (quiet & nan);
    }
    return (__builtin_shuffle(u[0], u[1], odd) & 0xffff0000u) | (__builtin_shuffle(u[0], u[1], even) >> 16);
}

/* r[q][j] := r[j][q] for a 16 x 16 block of words: four rounds of swapping the off-diagonal
 * blocks of 8, 4, 2 and 1 (two-source shuffles: vpermt2d on AVX-512) */
static const nnx_v16u nnx_t16_idx[4][2] = {
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}, {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}, {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}, {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
    {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}, {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
};

static inline __attribute__((always_inline)) void nnx_t16(nnx_v16u *r)
{
    for (int round = 0; round < 4; round++) {
        const int s = 8 >> round;
        for (int i = 0; i < 16; i++) {
            if (i & s) continue;
            const nnx_v16u a = r[i], b = r[i + s];
            r[i] = __builtin_shuffle(a, b, nnx_t16_idx[round][0]);
            r[i + s] = __builtin_shuffle(a, b, nnx_t16_idx[round][1]);
        }
    }
}

/* An operand: element (i, j) at x[row(i) + col(j)], row(i) = ro ? ro[i] : i * rs and
 * col(j) = co ? co[j] : j * cs. Offset tables let the convolutions hand over shifted views of a
 * padded image as the rows (or columns) of their column matrix without building it. */
typedef struct {
    const float *x;
    ptrdiff_t rs, cs;
    const ptrdiff_t *ro, *co;
} nnx_bf16_operand;

/* C (M x N, row-major, ldc) := [C +] op(A) (M x K) op(B) (K x N) [+ bias] [ReLU], the operands
 * rounded to bf16 while they are packed. load_c: start every accumulator from C (the GEMM's beta,
 * already applied; a convolution's next sample); else from 0. abuf / bbuf: 64-byte aligned
 * scratch of MC * KC / 2 and NC * KC / 2 words (nnx_bf16_kernels[path].mc, .nc, .kc). */
#define NNX_BF16_GEMM_ARGS                                                                    \
    (ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, nnx_bf16_operand A, nnx_bf16_operand B, float *C,    \
     ptrdiff_t ldc, int load_c, const float *bias, int relu, uint32_t *abuf, uint32_t *bbuf)
typedef void (*nnx_bf16_gemm_t) NNX_BF16_GEMM_ARGS;

static inline const float *nnx_bf16_row(const nnx_bf16_operand *o, ptrdiff_t i)
{
    return o->x + (o->ro ? o->ro[i] : i * o->rs);
}

static inline ptrdiff_t nnx_bf16_col(const nnx_bf16_operand *o, ptrdiff_t j)
{
    return o->co ? o->co[j] : j * o->cs;
}

/* the operand's block starting at row i0, column j0 */
static inline nnx_bf16_operand nnx_bf16_sub(nnx_bf16_operand o, ptrdiff_t i0, ptrdiff_t j0)
{
    if (o.ro) o.ro += i0; else o.x += i0 * o.rs;
    if (o.co) o.co += j0; else o.x += j0 * o.cs;
    return o;
}

typedef struct {
    nnx_bf16_gemm_t gemm;
    int mr, nr, kc, mc, nc;
    const char *name;
} nnx_bf16_kernel;

#define NNX_BF16_BODY "nnx_gemm_bf16.h"
#define NNX_BFN(f) f##_dp_soft
#define NNX_BF16_KIND 0
#define NNX_BF16_NATIVE 0
#include NNX_BF16_BODY
#undef NNX_BFN
#undef NNX_BF16_KIND
#undef NNX_BF16_NATIVE
#define NNX_BFN(f) f##_amx_soft
#define NNX_BF16_KIND 1
#define NNX_BF16_NATIVE 0
#include NNX_BF16_BODY
#undef NNX_BFN
#undef NNX_BF16_KIND
#undef NNX_BF16_NATIVE

#if NNX_HAVE_BF16_NATIVE
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,avx512bf16")
#define NNX_BFN(f) f##_dp
#define NNX_BF16_KIND 0
#define NNX_BF16_NATIVE 1
#include NNX_BF16_BODY
#undef NNX_BFN
#undef NNX_BF16_KIND
#undef NNX_BF16_NATIVE
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,avx512bf16,amx-tile,amx-bf16")
#define NNX_BFN(f) f##_amx
#define NNX_BF16_KIND 1
#define NNX_BF16_NATIVE 1
#include NNX_BF16_BODY
#undef NNX_BFN
#undef NNX_BF16_KIND
#undef NNX_BF16_NATIVE
#pragma GCC pop_options
#define NNX_BF16_NATIVE_GEMM(kind) kind
#else
#define NNX_BF16_NATIVE_GEMM(kind) NULL
#endif

/* The scratch a call of a path's gemm needs for M x N x K (words, each buffer 64-byte aligned
 * by the caller): the packed A block and the packed B slice. */
static inline __attribute__((unused)) ptrdiff_t nnx_bf16_abuf_words(int path, ptrdiff_t m, ptrdiff_t k)
{
    const ptrdiff_t mr = path >= 3 ? 32 : 12, kc = k < NNX_BF16_KC ? k : NNX_BF16_KC;
    const ptrdiff_t mc = m < NNX_BF16_MC ? (m + mr - 1) / mr * mr : NNX_BF16_MC;
    return mc * ((kc + 31) / 32 * 16);
}

static inline __attribute__((unused)) ptrdiff_t nnx_bf16_bbuf_words(int path, ptrdiff_t n, ptrdiff_t k)
{
    const ptrdiff_t kc = k < NNX_BF16_KC ? k : NNX_BF16_KC;
    const ptrdiff_t nc = n < NNX_BF16_NC ? (n + NNX_BF16_NR - 1) / NNX_BF16_NR * NNX_BF16_NR : NNX_BF16_NC;
    (void)path;
    return nc * ((kc + 31) / 32 * 16);
}

/* Scratch for the kernels: 64-byte aligned (their panel loads are aligned), freed with free(). */
static inline __attribute__((unused)) uint32_t *nnx_bf16_alloc(ptrdiff_t words)
{
    void *p = NULL;
    return posix_memalign(&p, 64, (size_t)(words > 0 ? words : 1) * 4) == 0 ? (uint32_t *)p : NULL;
}

/* The bf16 kernels by path index (0 emulated has none: it is the float32 GEMM on rounded panels). */
enum { NNX_BF16_EMULATED = 0, NNX_BF16_DP = 1, NNX_BF16_DP_SOFT = 2, NNX_BF16_AMX = 3, NNX_BF16_AMX_SOFT = 4,
       NNX_BF16_NPATHS = 5 };
static const nnx_bf16_kernel nnx_bf16_kernels[NNX_BF16_NPATHS] __attribute__((unused)) = {
    {NULL, 0, 0, 0, 0, 0, "emulated"},
    {NNX_BF16_NATIVE_GEMM(nnx_bf16_gemm_dp), 12, 32, NNX_BF16_KC, NNX_BF16_MC, NNX_BF16_NC, "avx512_bf16"},
    {nnx_bf16_gemm_dp_soft, 12, 32, NNX_BF16_KC, NNX_BF16_MC, NNX_BF16_NC, "avx512_bf16-portable"},
    {NNX_BF16_NATIVE_GEMM(nnx_bf16_gemm_amx), 32, 32, NNX_BF16_KC, NNX_BF16_MC, NNX_BF16_NC, "amx"},
    {nnx_bf16_gemm_amx_soft, 32, 32, NNX_BF16_KC, NNX_BF16_MC, NNX_BF16_NC, "amx-portable"},
};
#endif /* NNX_GEMM_BF16_H */

#else /* ---- the body: NNX_BFN names, NNX_BF16_KIND (0 vdpbf16ps, 1 AMX), NNX_BF16_NATIVE ---- */

#if NNX_BF16_KIND == 0
#define NNX_MRB 12
#else
#define NNX_MRB 32
#endif

#if NNX_BF16_NATIVE
#define NNX_DP(acc, a, b) NNX_DPBF16_NATIVE(acc, a, b)
#define NNX_T_LOADCONFIG(cfg) NNX_TILE_LOADCONFIG_NATIVE(cfg)
#define NNX_T_RELEASE() NNX_TILE_RELEASE_NATIVE()
#define NNX_T_ZERO(t) NNX_TILE_ZERO_NATIVE(t)
#define NNX_T_LOAD(t, base, stride) NNX_TILE_LOAD_NATIVE(t, base, stride)
#define NNX_T_STORE(t, base, stride) NNX_TILE_STORE_NATIVE(t, base, stride)
#define NNX_T_DP(d, a, b) NNX_TDPBF16PS_NATIVE(d, a, b)
#else
#define NNX_DP(acc, a, b) nnx_dpbf16_soft(acc, a, b)
#define NNX_T_LOADCONFIG(cfg) nnx_soft_tile_loadconfig(cfg)
#define NNX_T_RELEASE() nnx_soft_tile_release()
#define NNX_T_ZERO(t) nnx_soft_tile_zero(t)
#define NNX_T_LOAD(t, base, stride) nnx_soft_tile_load(t, base, stride)
#define NNX_T_STORE(t, base, stride) nnx_soft_tile_store(t, base, stride)
#define NNX_T_DP(d, a, b) nnx_soft_tdpbf16ps(d, a, b)
#endif

/* op(B)'s slice k in [0, kc), columns [0, n) into 32-column panels of kp = ceil(kc / 2) pairs
 * (rounded up to kpad pairs, zeros): panel q, pair p, column j at dst[(q * kpad + p) * 32 + j] */
static void NNX_BFN(nnx_bf16_pack_b)(ptrdiff_t kc, ptrdiff_t n, const nnx_bf16_operand *b, uint32_t *dst,
                                     ptrdiff_t kpad)
{
    const ptrdiff_t kp = (kc + 1) / 2;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += NNX_BF16_NR) {
        uint32_t *panel = dst + (j0 / NNX_BF16_NR) * kpad * NNX_BF16_NR;
        const int w = (int)(n - j0 < NNX_BF16_NR ? n - j0 : NNX_BF16_NR);
        if (!b->co && b->cs == 1 && w == NNX_BF16_NR) { /* rows contiguous: two rows, one panel row */
            for (ptrdiff_t p = 0; p < kp; p++) {
                const float *r0 = nnx_bf16_row(b, 2 * p) + j0;
                uint32_t *q = panel + p * NNX_BF16_NR;
                if (2 * p + 1 < kc) {
                    const float *r1 = nnx_bf16_row(b, 2 * p + 1) + j0;
                    for (int j = 0; j < NNX_BF16_NR; j++) q[j] = nnx_bf16_pair(r0[j], r1[j]);
                } else {
                    for (int j = 0; j < NNX_BF16_NR; j++) q[j] = nnx_bf16_pair(r0[j], 0.0f);
                }
            }
        } else if (!b->ro && b->rs == 1) { /* columns contiguous (B = W^T, cols^T): pairs are neighbours */
            /* 16 pairs of 16 columns at a time: 32 floats of each column to 16 words, transposed */
            const ptrdiff_t p16 = w == NNX_BF16_NR ? kc / 32 * 16 : 0;
            for (ptrdiff_t p0 = 0; p0 < p16; p0 += 16)
                for (int h = 0; h < 2; h++) {
                    nnx_v16u r[16];
                    for (int jj = 0; jj < 16; jj++)
                        r[jj] = nnx_bf16_pairs16(b->x + nnx_bf16_col(b, j0 + 16 * h + jj) + 2 * p0);
                    nnx_t16(r);
                    for (int q = 0; q < 16; q++) *(nnx_v16u *)(panel + (p0 + q) * NNX_BF16_NR + 16 * h) = r[q];
                }
            for (int j = 0; j < w; j++) {
                const float *col = b->x + nnx_bf16_col(b, j0 + j);
                for (ptrdiff_t p = p16; p < kc / 2; p++)
                    panel[p * NNX_BF16_NR + j] = nnx_bf16_pair(col[2 * p], col[2 * p + 1]);
                if (kc % 2)
                    panel[(kc / 2) * NNX_BF16_NR + j] = nnx_bf16_pair(col[kc - 1], 0.0f);
            }
            for (int j = w; j < NNX_BF16_NR; j++)
                for (ptrdiff_t p = 0; p < kp; p++) panel[p * NNX_BF16_NR + j] = 0;
        } else {
            for (ptrdiff_t p = 0; p < kp; p++) {
                const float *r0 = nnx_bf16_row(b, 2 * p), *r1 = 2 * p + 1 < kc ? nnx_bf16_row(b, 2 * p + 1) : NULL;
                for (int j = 0; j < NNX_BF16_NR; j++) {
                    const ptrdiff_t cj = j < w ? nnx_bf16_col(b, j0 + j) : 0;
                    panel[p * NNX_BF16_NR + j] = j < w ? nnx_bf16_pair(r0[cj], r1 ? r1[cj] : 0.0f) : 0;
                }
            }
        }
        for (ptrdiff_t p = kp; p < kpad; p++)
            for (int j = 0; j < NNX_BF16_NR; j++) panel[p * NNX_BF16_NR + j] = 0;
    }
}

/* op(A)'s rows [0, m), k in [0, kc), into panels of NNX_MRB rows (zero rows past m):
 *   vdpbf16ps: pair p of row r at panel[p * MR + r] (the kernel broadcasts one per row);
 *   AMX: row r's pairs contiguous, panel[r * kpad + p] (a tile row is 16 pairs of one row). */
static void NNX_BFN(nnx_bf16_pack_a)(ptrdiff_t m, ptrdiff_t kc, const nnx_bf16_operand *a, uint32_t *dst,
                                     ptrdiff_t kpad)
{
    const ptrdiff_t kp = (kc + 1) / 2;
    for (ptrdiff_t i0 = 0; i0 < m; i0 += NNX_MRB) {
        uint32_t *panel = dst + (i0 / NNX_MRB) * kpad * NNX_MRB;
        const int rows = (int)(m - i0 < NNX_MRB ? m - i0 : NNX_MRB);
        /* rows contiguous: 16 pairs of a row at a time from 32 floats (vdpbf16ps's layout through
         * 16 x 16 transposes of up to 16 rows; AMX's stored as they are) */
        const ptrdiff_t p16 = !a->co && a->cs == 1 && rows == NNX_MRB ? kc / 32 * 16 : 0;
        for (ptrdiff_t p0 = 0; p0 < p16; p0 += 16) {
#if NNX_BF16_KIND == 0
            nnx_v16u t[16];
            for (int r = 0; r < 16; r++)
                t[r] = r < NNX_MRB ? nnx_bf16_pairs16(nnx_bf16_row(a, i0 + r) + 2 * p0) : (nnx_v16u){0};
            nnx_t16(t);
            for (int q = 0; q < 16; q++) memcpy(panel + (p0 + q) * NNX_MRB, &t[q], NNX_MRB * 4);
#else
            for (int r = 0; r < NNX_MRB; r++)
                *(nnx_v16u *)(panel + r * kpad + p0) = nnx_bf16_pairs16(nnx_bf16_row(a, i0 + r) + 2 * p0);
#endif
        }
        for (int r = 0; r < NNX_MRB; r++) {
#if NNX_BF16_KIND == 0
#define NNX_AT(r, p) panel[(p) * NNX_MRB + (r)]
#else
#define NNX_AT(r, p) panel[(r) * kpad + (p)]
#endif
            if (r >= rows) {
                for (ptrdiff_t p = 0; p < kpad; p++) NNX_AT(r, p) = 0;
                continue;
            }
            const float *row = nnx_bf16_row(a, i0 + r);
            if (!a->co && a->cs == 1) {
                for (ptrdiff_t p = p16; p < kc / 2; p++) NNX_AT(r, p) = nnx_bf16_pair(row[2 * p], row[2 * p + 1]);
            } else {
                for (ptrdiff_t p = 0; p < kc / 2; p++)
                    NNX_AT(r, p) = nnx_bf16_pair(row[nnx_bf16_col(a, 2 * p)], row[nnx_bf16_col(a, 2 * p + 1)]);
            }
            if (kc % 2) NNX_AT(r, kc / 2) = nnx_bf16_pair(row[nnx_bf16_col(a, kc - 1)], 0.0f);
            for (ptrdiff_t p = kp; p < kpad; p++) NNX_AT(r, p) = 0;
#undef NNX_AT
        }
    }
}

/* the epilogue of a finished tile row: + bias, then ReLU (y <= 0 -> 0, NaN passes) */
static inline __attribute__((always_inline)) float NNX_BFN(nnx_bf16_finish)(float v, const float *bias, int j,
                                                                           int relu)
{
    if (bias) v += bias[j];
    return relu && v <= 0 ? 0.0f : v;
}

#if NNX_BF16_KIND == 0
/* C tile (MR x 32 at c, ldc) := [C +] A panel x B panel over kp pairs [+ bias] [ReLU]; rows valid
 * rows are read and written, all 32 columns (the caller goes through a buffer at the edge). */
static void NNX_BFN(nnx_bf16_tile)(ptrdiff_t kp, const uint32_t *restrict a, const uint32_t *restrict b,
                                   float *restrict c, ptrdiff_t ldc, int rows, int load_c, const float *bias,
                                   int relu)
{
    nnx_v16f acc[NNX_MRB][2];
    for (int r = 0; r < NNX_MRB; r++)
        for (int v = 0; v < 2; v++)
            acc[r][v] = load_c && r < rows ? *(const nnx_v16f_u *)(c + r * ldc + 16 * v) : (nnx_v16f){0};
    for (ptrdiff_t p = 0; p < kp; p++) {
        const nnx_v16u b0 = *(const nnx_v16u *)(b + p * 32), b1 = *(const nnx_v16u *)(b + p * 32 + 16);
        for (int r = 0; r < NNX_MRB; r++) {
            const nnx_v16u av = (nnx_v16u){0} + a[p * NNX_MRB + r]; /* one pair to every lane */
            acc[r][0] = NNX_DP(acc[r][0], av, b0);
            acc[r][1] = NNX_DP(acc[r][1], av, b1);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < 2; v++) {
            nnx_v16f y = acc[r][v];
            if (bias) y += *(const nnx_v16f_u *)(bias + 16 * v);
            if (relu) y = (nnx_v16f)((nnx_v16u)y & ~(nnx_v16u)(y <= (nnx_v16f){0}));
            *(nnx_v16f_u *)(c + r * ldc + 16 * v) = y;
        }
}
#else
/* C tile (32 x 32 at c, ldc) := [C +] A panel (32 rows of kpad pairs) x B panel over kp pairs (a
 * multiple of 16); the tiles are configured by the caller. All 32 x 32 values are read/written. */
static void NNX_BFN(nnx_bf16_tile)(ptrdiff_t kp, const uint32_t *restrict a, ptrdiff_t kpad,
                                   const uint32_t *restrict b, float *restrict c, ptrdiff_t ldc, int load_c)
{
    const ptrdiff_t sc = ldc * 4;
    if (load_c) {
        NNX_T_LOAD(0, c, sc);
        NNX_T_LOAD(1, c + 16, sc);
        NNX_T_LOAD(2, c + 16 * ldc, sc);
        NNX_T_LOAD(3, c + 16 * ldc + 16, sc);
    } else {
        NNX_T_ZERO(0);
        NNX_T_ZERO(1);
        NNX_T_ZERO(2);
        NNX_T_ZERO(3);
    }
    for (ptrdiff_t p = 0; p < kp; p += 16) {
        NNX_T_LOAD(4, a + p, kpad * 4);
        NNX_T_LOAD(5, a + 16 * kpad + p, kpad * 4);
        NNX_T_LOAD(6, b + p * 32, 128);
        NNX_T_LOAD(7, b + p * 32 + 16, 128);
        NNX_T_DP(0, 4, 6);
        NNX_T_DP(1, 4, 7);
        NNX_T_DP(2, 5, 6);
        NNX_T_DP(3, 5, 7);
    }
    NNX_T_STORE(0, c, sc);
    NNX_T_STORE(1, c + 16, sc);
    NNX_T_STORE(2, c + 16 * ldc, sc);
    NNX_T_STORE(3, c + 16 * ldc + 16, sc);
}
#endif

static void NNX_BFN(nnx_bf16_gemm) NNX_BF16_GEMM_ARGS
{
    const ptrdiff_t KC = NNX_BF16_KC, MC = NNX_BF16_MC, NC = NNX_BF16_NC;
#if NNX_BF16_KIND == 1
    nnx_tilecfg cfg; /* each thread configures its own tiles (the state is per thread) */
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    NNX_T_LOADCONFIG(&cfg);
#endif
    float edge[NNX_MRB * NNX_BF16_NR] __attribute__((aligned(64)));
    for (ptrdiff_t jc = 0; jc < N; jc += NC) {
        const ptrdiff_t nc = N - jc < NC ? N - jc : NC;
        for (ptrdiff_t pc = 0; pc < K; pc += KC) {
            const ptrdiff_t kc = K - pc < KC ? K - pc : KC;
#if NNX_BF16_KIND == 0
            const ptrdiff_t kpad = (kc + 1) / 2;
#else
            const ptrdiff_t kpad = (kc + 31) / 32 * 16;
#endif
            const int last = pc + kc >= K, lc = pc > 0 || load_c;
            const nnx_bf16_operand bs = nnx_bf16_sub(B, pc, jc);
            NNX_BFN(nnx_bf16_pack_b)(kc, nc, &bs, bbuf, kpad);
            for (ptrdiff_t ic = 0; ic < M; ic += MC) {
                const ptrdiff_t mc = M - ic < MC ? M - ic : MC;
                const nnx_bf16_operand as = nnx_bf16_sub(A, ic, pc);
                NNX_BFN(nnx_bf16_pack_a)(mc, kc, &as, abuf, kpad);
                for (ptrdiff_t jr = 0; jr < nc; jr += NNX_BF16_NR) {
                    const int ncol = (int)(nc - jr < NNX_BF16_NR ? nc - jr : NNX_BF16_NR);
                    const uint32_t *bp = bbuf + (jr / NNX_BF16_NR) * kpad * NNX_BF16_NR;
                    const float *bias_p = last && bias ? bias + jc + jr : NULL;
                    for (ptrdiff_t ir = 0; ir < mc; ir += NNX_MRB) {
                        const int nrow = (int)(mc - ir < NNX_MRB ? mc - ir : NNX_MRB);
                        const uint32_t *ap = abuf + (ir / NNX_MRB) * kpad * NNX_MRB;
                        float *ct = C + (ic + ir) * ldc + jc + jr;
                        const int full = ncol == NNX_BF16_NR && (NNX_BF16_KIND == 0 || nrow == NNX_MRB);
                        float *t = full ? ct : edge;
                        const ptrdiff_t ldt = full ? ldc : NNX_BF16_NR;
                        if (!full) { /* through a buffer: nothing outside C's valid part is touched */
                            for (int r = 0; r < NNX_MRB; r++)
                                for (int j = 0; j < NNX_BF16_NR; j++)
                                    edge[r * NNX_BF16_NR + j] = lc && r < nrow && j < ncol ? ct[r * ldc + j] : 0.0f;
                        }
#if NNX_BF16_KIND == 0
                        float bpad[NNX_BF16_NR] __attribute__((aligned(64)));
                        const float *bb = bias_p;
                        if (bias_p && !full) {
                            for (int j = 0; j < NNX_BF16_NR; j++) bpad[j] = j < ncol ? bias_p[j] : 0.0f;
                            bb = bpad;
                        }
                        NNX_BFN(nnx_bf16_tile)(kpad, ap, bp, t, ldt, full ? nrow : NNX_MRB, lc, bb, relu && last);
#else
                        NNX_BFN(nnx_bf16_tile)(kpad, ap, kpad, bp, t, ldt, lc);
                        if (last && (bias_p || relu)) {
                            for (int r = 0; r < (full ? NNX_MRB : nrow); r++)
                                for (int j = 0; j < (full ? NNX_BF16_NR : ncol); j++)
                                    t[r * ldt + j] = NNX_BFN(nnx_bf16_finish)(t[r * ldt + j], bias_p, j, relu);
                        }
#endif
                        if (!full) {
                            for (int r = 0; r < nrow; r++)
                                for (int j = 0; j < ncol; j++) ct[r * ldc + j] = edge[r * NNX_BF16_NR + j];
                        }
                    }
                }
            }
        }
    }
#if NNX_BF16_KIND == 1
    NNX_T_RELEASE();
#endif
}

#undef NNX_MRB
#undef NNX_DP
#undef NNX_T_LOADCONFIG
#undef NNX_T_RELEASE
#undef NNX_T_ZERO
#undef NNX_T_LOAD
#undef NNX_T_STORE
#undef NNX_T_DP
#endif
