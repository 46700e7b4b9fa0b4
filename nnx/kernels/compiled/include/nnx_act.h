/* nnx_act.h -- the activations' per-element loops (_activations.pyx): ReLU, the four smooth
 * forwards (float32 vectorisable, float64 through libm) and their backward rules.
 *
 * Why C: libm's tanhf is a scalar call (~30 ns an element here) and Cython's baseline build
 * ran the sigmoid's exp and divisions scalar (~6 ns): a 128x512 activation took 0.4 ms
 * (sigmoid) and 2 ms (tanh) against torch's 0.05 and 0.16. Both are branch-free here (selects
 * only), so each loop vectorises, and cloned per CPU level (nnx_clones.h) to 4, 8 or 16 lanes.
 * sigmoid: the stable form from e = exp(-|x|): 1 / (1 + e) for x >= 0, e / (1 + e) below.
 * tanh: Cephes' tanhf: for |x| <= 0.625 the odd polynomial x + x^3 P(x^2) (an exp-based form
 * loses all relative accuracy near 0), above it 1 - 2 / (exp(2|x|) + 1) with x's sign; ~2 ulp.
 * ELU: x for x > 0, else alpha * expm1(x), expm1 as exp(x) - 1 below -ln(2)/2 (no cancellation
 * there: the result is below -0.29) and as its Taylor series to x^8 above (truncation < 1e-8
 * relative); libm's expm1f, a scalar call, took ~6 ns an element.
 * Backward (dx from dy and the saved x, y): compiled for the baseline, Cython's ELU rule
 * `v if x > 0 else v * (y + alpha)` stayed a branch per element (6 ns on random signs).
 * Edge values: NaN -> NaN; sigmoid(-inf) = 0, sigmoid(+inf) = 1; tanh(+-inf) = +-1; tanh(-0) = -0;
 * elu(-inf) = -alpha, elu(-0) = -0.
 */
#ifndef NNX_FN
#ifndef NNX_ACT_H
#define NNX_ACT_H
#include <math.h>
#include <stddef.h>
#include "nnx_math.h" /* nnx_expf */

/* The activation kinds (Python sees them as _activations.Unary, through _activations.pxd). */
typedef enum nnx_unary {
    NNX_UNARY_SIGMOID = 0, NNX_UNARY_TANH = 1, NNX_UNARY_ELU = 2, NNX_UNARY_LEAKY_RELU = 3
} nnx_unary;

#define NNX_ACT_FNS(X)                                                                        \
    X(void, nnx_relu_fwd_f32, (const float *x, float *y, unsigned char *m, ptrdiff_t n))      \
    X(void, nnx_relu_fwd_f64, (const double *x, double *y, unsigned char *m, ptrdiff_t n))    \
    X(void, nnx_relu_bwd_f32, (const float *dy, const unsigned char *m, float *dx, ptrdiff_t n)) \
    X(void, nnx_relu_bwd_f64, (const double *dy, const unsigned char *m, double *dx, ptrdiff_t n)) \
    X(void, nnx_unary_f32, (const float *x, float *y, int kind, float p, ptrdiff_t n))        \
    X(void, nnx_unary_grad_f32, (const float *dy, const float *x, const float *y, float *dx, int kind, \
                                 float p, ptrdiff_t n))                                       \
    X(void, nnx_unary_grad_f64, (const double *dy, const double *x, const double *y, double *dx, \
                                 int kind, double p, ptrdiff_t n))

#define NNX_CLONE_FILE "nnx_act.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_act, NNX_ACT_FNS)
#define nnx_relu_fwd_f32 NNX_CALL(nnx_act, nnx_relu_fwd_f32)
#define nnx_relu_fwd_f64 NNX_CALL(nnx_act, nnx_relu_fwd_f64)
#define nnx_relu_bwd_f32 NNX_CALL(nnx_act, nnx_relu_bwd_f32)
#define nnx_relu_bwd_f64 NNX_CALL(nnx_act, nnx_relu_bwd_f64)
#define nnx_unary_f32 NNX_CALL(nnx_act, nnx_unary_f32)
#define nnx_unary_grad_f32 NNX_CALL(nnx_act, nnx_unary_grad_f32)
#define nnx_unary_grad_f64 NNX_CALL(nnx_act, nnx_unary_grad_f64)

/* float64 forward: libm, the reference dtype, one build for every level */
static void nnx_unary_f64(const double *x, double *y, int kind, double p, ptrdiff_t n)
{
    if (kind == NNX_UNARY_SIGMOID) {
        for (ptrdiff_t i = 0; i < n; i++) {
            double e = exp(-fabs(x[i]));
            y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
        }
    } else if (kind == NNX_UNARY_TANH) {
        for (ptrdiff_t i = 0; i < n; i++) y[i] = tanh(x[i]);
    } else if (kind == NNX_UNARY_ELU) {
        for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : p * expm1(x[i]);
    } else {
        for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : x[i] * p;
    }
}
#endif
#else /* the clone body */

static void NNX_FN(nnx_sigmoid_f32)(const float *x, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i], e = nnx_expf(-fabsf(v));
        y[i] = v >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
}

static void NNX_FN(nnx_tanh_f32)(const float *x, float *y, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i], a = fabsf(v), z = v * v;
        float big = 1.0f - 2.0f / (nnx_expf(2.0f * a) + 1.0f); /* exp overflows to inf: 1 */
        float p = -5.70498872745e-3f;
        p = p * z + 2.06390887954e-2f;
        p = p * z - 5.37397155531e-2f;
        p = p * z + 1.33314422036e-1f;
        p = p * z - 3.33332819422e-1f;
        float small = v * (1.0f + z * p); /* x + x^3 P(x^2); -0 stays -0 */
        y[i] = a > 0.625f ? copysignf(big, v) : small;
    }
}

static void NNX_FN(nnx_elu_f32)(const float *x, float *y, float alpha, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        float p = 1.0f / 40320;
        p = p * v + 1.0f / 5040;
        p = p * v + 1.0f / 720;
        p = p * v + 1.0f / 120;
        p = p * v + 1.0f / 24;
        p = p * v + 1.0f / 6;
        p = p * v + 0.5f;
        float em1 = v < -0.34657359f ? nnx_expf(v) - 1.0f : v * (1.0f + v * p); /* -0 stays -0 */
        y[i] = v > 0 ? v : alpha * em1;
    }
}

/* ReLU as selects, not a multiply: y = x unless x <= 0 (NaN passes, negatives give +0), mask =
 * x > 0; backward routes dy where the mask is set and writes exact zeros elsewhere (a NaN in dy
 * at a masked-off place does not leak, as torch's threshold_backward). In C for the per-CPU
 * clones: Cython's baseline build ran them at ~0.5 ns an element, torch at ~0.2. */
#define NNX_DEFINE_RELU(T, SFX)                                                               \
static void NNX_FN(nnx_relu_fwd_##SFX)(const T *x, T *y, unsigned char *m, ptrdiff_t n) \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = x[i];                                                                           \
        m[i] = v > 0;                                                                         \
        y[i] = v <= 0 ? 0 : v;                                                                \
    }                                                                                         \
}                                                                                             \
static void NNX_FN(nnx_relu_bwd_##SFX)(const T *dy, const unsigned char *m, T *dx, ptrdiff_t n) \
{                                                                                             \
    for (ptrdiff_t i = 0; i < n; i++) {                                                       \
        T v = dy[i]; /* loaded unconditionally: a select, not control flow */                \
        dx[i] = m[i] ? v : 0;                                                                 \
    }                                                                                         \
}
NNX_DEFINE_RELU(float, f32)
NNX_DEFINE_RELU(double, f64)

/* dx := dy * f'(x) from the saved x and/or y. */
#define NNX_DEFINE_UNARY_GRAD(NAME, T)                                                        \
static void NNX_FN(NAME)(const T *dy, const T *x, const T *y, T *dx, int kind, T p, ptrdiff_t n) \
{                                                                                             \
    if (kind == NNX_UNARY_SIGMOID) {                                                          \
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);                  \
    } else if (kind == NNX_UNARY_TANH) {                                                      \
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);                  \
    } else if (kind == NNX_UNARY_ELU) { /* alpha e^x = y + alpha below 0 */                   \
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + p);      \
    } else { /* NNX_UNARY_LEAKY_RELU */                                                       \
        for (ptrdiff_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : dy[i] * p;               \
    }                                                                                         \
}
NNX_DEFINE_UNARY_GRAD(nnx_unary_grad_f32, float)
NNX_DEFINE_UNARY_GRAD(nnx_unary_grad_f64, double)

/* y := f(x): float32 through the vectorised loops above, float64 through libm (the reference
 * dtype: exp, tanh and expm1 as they are); the leaky ReLU is one select in both. */
static void NNX_FN(nnx_unary_f32)(const float *x, float *y, int kind, float p, ptrdiff_t n)
{
    if (kind == NNX_UNARY_SIGMOID) NNX_FN(nnx_sigmoid_f32)(x, y, n);
    else if (kind == NNX_UNARY_TANH) NNX_FN(nnx_tanh_f32)(x, y, n);
    else if (kind == NNX_UNARY_ELU) NNX_FN(nnx_elu_f32)(x, y, p, n);
    else for (ptrdiff_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : x[i] * p;
}

#endif
