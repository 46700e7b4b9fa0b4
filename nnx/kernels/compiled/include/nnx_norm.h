/* nnx_norm.h -- batch normalisation's per-channel loops (_norm.pyx), x viewed as (N, C, S).
 *
 * Why C: the Cython loops summed each channel into one double, a chain of dependent adds (one
 * element per add latency), and were compiled for the baseline: a (128, 32, 16, 16) forward took
 * 3.4 ms against torch's 2.0, a (128, 256) one 0.35 ms against 0.08. Here, cloned per CPU level:
 * - spatial input (S > 1): a channel's sums run in NNX_BN_LANES double lanes (lane = j mod 8
 *   within each row of S values, rows in order), added up pairwise at the end: the order
 *   depends on the shape only, never on threads, and the lanes vectorise;
 * - (N, C) input (S == 1): a block of channels at a time, row after row, each channel's sum in
 *   its own double in row order (as the old loop did); contiguous in C.
 * Statistics in double as before: the mean, then the sum of squared deviations (two passes).
 */
#ifndef NNX_FN
#ifndef NNX_NORM_H
#define NNX_NORM_H
#include <stddef.h>

#define NNX_BN_LANES 8
#define NNX_BN_BLOCK 64 /* channels per block of the S == 1 path */

static inline __attribute__((always_inline)) double nnx_bn_reduce(const double *acc)
{
    double t[NNX_BN_LANES];
    for (int l = 0; l < NNX_BN_LANES; l++) t[l] = acc[l];
    for (int w = NNX_BN_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}

#define NNX_NORM_FNS(X)                                                                       \
    X(void, nnx_bn_sums_f32, (const float *a, const float *b, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, ptrdiff_t c0, ptrdiff_t c1, const double *sub, int sq, double *o1, double *o2))\
    X(void, nnx_bn_apply_f32, (const float *x, const float *p, float *out1, float *out2, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, ptrdiff_t c0, ptrdiff_t c1, const float *m, const float *inv, const float *g, const float *b, int fwd))\
    X(void, nnx_bn_sums_f64, (const double *a, const double *b, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, ptrdiff_t c0, ptrdiff_t c1, const double *sub, int sq, double *o1, double *o2))\
    X(void, nnx_bn_apply_f64, (const double *x, const double *p, double *out1, double *out2, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, ptrdiff_t c0, ptrdiff_t c1, const double *m, const double *inv, const double *g, const double *b, int fwd))

#define NNX_CLONE_FILE "nnx_norm.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_norm, NNX_NORM_FNS)
#define nnx_bn_sums_f32 NNX_CALL(nnx_norm, nnx_bn_sums_f32)
#define nnx_bn_apply_f32 NNX_CALL(nnx_norm, nnx_bn_apply_f32)
#define nnx_bn_sums_f64 NNX_CALL(nnx_norm, nnx_bn_sums_f64)
#define nnx_bn_apply_f64 NNX_CALL(nnx_norm, nnx_bn_apply_f64)
#endif
#else /* the clone body */

#define NNX_DEFINE_BN(T, SFX)                                                                 \
/* Channel ch (S > 1): *o1 = sum of (a - sub), squared when sq, over its N*S values; with b
 * (same layout), also *o2 = sum of a * b in the same pass (sub 0, no sq: backward's sums). */   \
static void NNX_FN(nnx_bn_sum_##SFX)(const T *a, const T *b, ptrdiff_t n, ptrdiff_t c, \
                                              ptrdiff_t s, ptrdiff_t ch, double sub, int sq,  \
                                              double *o1, double *o2)                         \
{                                                                                             \
    double acc[NNX_BN_LANES] = {0}, acc2[NNX_BN_LANES] = {0};                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        const T *ra = a + (i * c + ch) * s, *rb = b ? b + (i * c + ch) * s : NULL;            \
        ptrdiff_t j = 0;                                                                      \
        if (rb) {                                                                             \
            for (; j + NNX_BN_LANES <= s; j += NNX_BN_LANES)                                  \
                for (int l = 0; l < NNX_BN_LANES; l++) {                                      \
                    acc[l] += (double)ra[j + l];                                              \
                    acc2[l] += (double)ra[j + l] * (double)rb[j + l];                         \
                }                                                                             \
            for (; j < s; j++) {                                                              \
                acc[j % NNX_BN_LANES] += (double)ra[j];                                       \
                acc2[j % NNX_BN_LANES] += (double)ra[j] * (double)rb[j];                      \
            }                                                                                 \
        } else if (sq) {                                                                      \
            for (; j + NNX_BN_LANES <= s; j += NNX_BN_LANES)                                  \
                for (int l = 0; l < NNX_BN_LANES; l++) {                                      \
                    double d = (double)ra[j + l] - sub;                                       \
                    acc[l] += d * d;                                                          \
                }                                                                             \
            for (; j < s; j++) {                                                              \
                double d = (double)ra[j] - sub;                                               \
                acc[j % NNX_BN_LANES] += d * d;                                               \
            }                                                                                 \
        } else {                                                                              \
            for (; j + NNX_BN_LANES <= s; j += NNX_BN_LANES)                                  \
                for (int l = 0; l < NNX_BN_LANES; l++) acc[l] += (double)ra[j + l] - sub;     \
            for (; j < s; j++) acc[j % NNX_BN_LANES] += (double)ra[j] - sub;                  \
        }                                                                                     \
    }                                                                                         \
    *o1 = nnx_bn_reduce(acc);                                                                 \
    if (o2) *o2 = nnx_bn_reduce(acc2);                                                        \
}                                                                                             \
/* Channels [c0, c1) of (N, C) input (c1 - c0 <= NNX_BN_BLOCK): o1[k] = sum over rows of       \
 * (a - sub[k]), squared when sq; with b also o2[k] = sum of a * b; each channel in row order. */ \
static void NNX_FN(nnx_bn_sums_rows_##SFX)(const T *a, const T *b, ptrdiff_t n,      \
                                                    ptrdiff_t c, ptrdiff_t c0, ptrdiff_t c1,  \
                                                    const double *sub, int sq, double *o1,    \
                                                    double *o2)                               \
{                                                                                             \
    double acc[NNX_BN_BLOCK], acc2[NNX_BN_BLOCK], z[NNX_BN_BLOCK];                            \
    ptrdiff_t w = c1 - c0;                                                                    \
    for (ptrdiff_t k = 0; k < w; k++) {                                                       \
        acc[k] = acc2[k] = 0;                                                                 \
        z[k] = sub ? sub[k] : 0.0;                                                            \
    }                                                                                         \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        const T *ra = a + i * c + c0, *rb = b ? b + i * c + c0 : NULL;                        \
        if (rb) {                                                                             \
            for (ptrdiff_t k = 0; k < w; k++) {                                               \
                acc[k] += (double)ra[k];                                                      \
                acc2[k] += (double)ra[k] * (double)rb[k];                                     \
            }                                                                                 \
        } else if (sq) {                                                                      \
            for (ptrdiff_t k = 0; k < w; k++) {                                               \
                double d = (double)ra[k] - z[k];                                              \
                acc[k] += d * d;                                                              \
            }                                                                                 \
        } else {                                                                              \
            for (ptrdiff_t k = 0; k < w; k++) acc[k] += (double)ra[k] - z[k];                 \
        }                                                                                     \
    }                                                                                         \
    for (ptrdiff_t k = 0; k < w; k++) {                                                       \
        o1[k] = acc[k];                                                                       \
        if (o2) o2[k] = acc2[k];                                                              \
    }                                                                                         \
}                                                                                             \
/* Channels [c0, c1), every row: xhat = (x - m) * inv, y = xhat * g + b (forward: fwd = 1,     \
 * out1 = xhat, out2 = y), or dx = g * (b * dy - m - xhat * inv) (backward: x = dy, p = xhat, \
 * out1 = dx; m, inv, g, b carry sum(dy), sum(dy xhat), gamma invstd / M and M). Per-channel    \
 * values are indexed by channel; S == 1 runs along the channels so that it vectorises. */    \
static void NNX_FN(nnx_bn_apply_##SFX)(const T *x, const T *p, T *out1, T *out2,     \
                                                ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,        \
                                                ptrdiff_t c0, ptrdiff_t c1, const T *m,       \
                                                const T *inv, const T *g, const T *b, int fwd) \
{                                                                                             \
    if (s == 1 && fwd) {                                                                      \
        for (ptrdiff_t i = 0; i < n; i++)                                                     \
            for (ptrdiff_t ch = c0; ch < c1; ch++) {                                          \
                T xh = (x[i * c + ch] - m[ch]) * inv[ch];                                     \
                out1[i * c + ch] = xh;                                                        \
                out2[i * c + ch] = xh * g[ch] + b[ch];                                        \
            }                                                                                 \
    } else if (s == 1) {                                                                      \
        for (ptrdiff_t i = 0; i < n; i++)                                                     \
            for (ptrdiff_t ch = c0; ch < c1; ch++)                                            \
                out1[i * c + ch] = g[ch] * (b[ch] * x[i * c + ch] - m[ch] - p[i * c + ch] * inv[ch]); \
    } else {                                                                                  \
        for (ptrdiff_t i = 0; i < n; i++)                                                     \
            for (ptrdiff_t ch = c0; ch < c1; ch++) {                                          \
                ptrdiff_t o = (i * c + ch) * s;                                               \
                const T mc = m[ch], ic = inv[ch], gc = g[ch], bc = b[ch];                     \
                if (fwd) {                                                                    \
                    for (ptrdiff_t j = 0; j < s; j++) {                                       \
                        T xh = (x[o + j] - mc) * ic;                                          \
                        out1[o + j] = xh;                                                     \
                        out2[o + j] = xh * gc + bc;                                           \
                    }                                                                         \
                } else {                                                                      \
                    for (ptrdiff_t j = 0; j < s; j++)                                         \
                        out1[o + j] = gc * (bc * x[o + j] - mc - p[o + j] * ic);              \
                }                                                                             \
            }                                                                                 \
    }                                                                                         \
}

NNX_DEFINE_BN(float, f32)
NNX_DEFINE_BN(double, f64)

/* The sums of channels [c0, c1) whatever the layout (one channel when S > 1, a block when
 * S == 1): o1[k] (and o2[k]) for channel c0 + k, sub[k] subtracted (sub may be NULL: 0). */
#define NNX_DEFINE_BN_SUMS(T, SFX)                                                            \
static void NNX_FN(nnx_bn_sums_##SFX)(const T *a, const T *b, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,  \
                              ptrdiff_t c0, ptrdiff_t c1, const double *sub, int sq,         \
                              double *o1, double *o2)                                         \
{                                                                                             \
    if (s == 1) {                                                                             \
        NNX_FN(nnx_bn_sums_rows_##SFX)(a, b, n, c, c0, c1, sub, sq, o1, o2);                          \
        return;                                                                               \
    }                                                                                         \
    for (ptrdiff_t k = 0; k < c1 - c0; k++)                                                   \
        NNX_FN(nnx_bn_sum_##SFX)(a, b, n, c, s, c0 + k, sub ? sub[k] : 0.0, sq, o1 + k, o2 ? o2 + k : NULL); \
}
NNX_DEFINE_BN_SUMS(float, f32)
NNX_DEFINE_BN_SUMS(double, f64)

#endif
