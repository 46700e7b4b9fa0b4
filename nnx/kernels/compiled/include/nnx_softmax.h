/* nnx_softmax.h -- the float32 row loops of the softmax family (_losses.pyx): max, exp-and-sum,
 * scale; per-CPU clones (nnx_clones.h) of portable C that the compiler vectorises.
 *
 * Reductions use NNX_LANES independent accumulators combined in a fixed order, so every clone
 * (and every thread count) adds in the same order: the x86-64-v3 and -v4 clones return the
 * same bits; the baseline clone has no FMA, so nnx_expf's polynomial rounds each multiply-add
 * twice there and its last bits can differ (docs/determinism.md).
 */
#ifndef NNX_FN
#ifndef NNX_SOFTMAX_H
#define NNX_SOFTMAX_H
#include <math.h>
#include <stddef.h>
#include "nnx_math.h" /* nnx_expf */

#define NNX_LANES 16

#define NNX_SOFTMAX_FNS(X)                                                                    \
    X(float, nnx_row_max_f32, (const float *x, ptrdiff_t n))                                  \
    X(float, nnx_exp_shift_sum_f32, (const float *x, float m, float *out, ptrdiff_t n))       \
    X(void, nnx_scale_f32, (float *x, float a, ptrdiff_t n))

#define NNX_CLONE_FILE "nnx_softmax.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_softmax, NNX_SOFTMAX_FNS)
#define nnx_row_max_f32 NNX_CALL(nnx_softmax, nnx_row_max_f32)
#define nnx_exp_shift_sum_f32 NNX_CALL(nnx_softmax, nnx_exp_shift_sum_f32)
#define nnx_scale_f32 NNX_CALL(nnx_softmax, nnx_scale_f32)
#endif
#else /* the clone body */

/* max(x[0..n)) ignoring NaN (-inf for n == 0). */
static float NNX_FN(nnx_row_max_f32)(const float *x, ptrdiff_t n)
{
    float acc[NNX_LANES];
    ptrdiff_t nb = n / NNX_LANES, j, k;
    for (k = 0; k < NNX_LANES; k++) acc[k] = -INFINITY;
    for (j = 0; j < nb; j++)
        for (k = 0; k < NNX_LANES; k++) {
            float v = x[j * NNX_LANES + k];
            acc[k] = v > acc[k] ? v : acc[k];
        }
    float m = -INFINITY;
    for (k = 0; k < NNX_LANES; k++) m = acc[k] > m ? acc[k] : m;
    for (j = nb * NNX_LANES; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* out := exp(x - m); returns sum(out) in a fixed order. */
static float NNX_FN(nnx_exp_shift_sum_f32)(const float *x, float m, float *out, ptrdiff_t n)
{
    float acc[NNX_LANES];
    ptrdiff_t nb = n / NNX_LANES, j, k;
    for (j = 0; j < n; j++) out[j] = nnx_expf(x[j] - m);
    for (k = 0; k < NNX_LANES; k++) acc[k] = 0.0f;
    for (j = 0; j < nb; j++)
        for (k = 0; k < NNX_LANES; k++) acc[k] += out[j * NNX_LANES + k];
    for (k = NNX_LANES / 2; k > 0; k /= 2) /* pairwise tree, fixed shape */
        for (ptrdiff_t i = 0; i < k; i++) acc[i] += acc[i + k];
    float s = acc[0];
    for (j = nb * NNX_LANES; j < n; j++) s += out[j];
    return s;
}

/* x := x * a */
static void NNX_FN(nnx_scale_f32)(float *x, float a, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++) x[j] *= a;
}

#endif
