/* nnx_math.h -- vectorisable float32 row primitives for the softmax family.
 *
 * Why C and not Cython: two things Cython cannot express.
 * 1. A branch-free expf. glibc's expf is only called in vector form under -ffast-math, which
 *    nnx never uses (it breaks NaN/inf handling). nnx_expf is the Cephes range reduction
 *    exp(x) = 2^n exp(r), r = x - n ln2, |r| <= ln2/2, with its degree-6 minimax polynomial
 *    (about 1 ulp). n is rounded with the 1.5*2^23 trick, whose low mantissa bits then hold n,
 *    so no float->int conversion is needed and plain SSE2 vectorises it.
 *    Edge cases: NaN -> NaN; x < -87.336 (incl. -inf) -> 0 (subnormal results flushed);
 *    x > 88.37 (incl. +inf) -> +inf.
 * 2. Function multiversioning: on x86-64 with gcc, the row loops are compiled for AVX-512,
 *    AVX2+FMA and the portable baseline, and the loader picks one for the CPU (ifunc), so the
 *    default portable build still runs wide vectors. Reductions use NNX_LANES independent
 *    accumulators combined in a fixed order, so every clone (and every thread count) adds in
 *    the same order and returns the same bits.
 */
#ifndef NNX_MATH_H
#define NNX_MATH_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && (__GNUC__ >= 11)
#define NNX_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NNX_MULTIVERSION
#endif

#define NNX_LANES 16

static inline float nnx_expf(float x)
{
    const float hi = 88.37f, lo = -87.33654475f;
    float xc = x > hi ? hi : x;
    xc = xc < lo ? lo : xc;
    float t = xc * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union { float f; uint32_t u; } tb, scale;
    tb.f = t;
    scale.u = (tb.u + 127u) << 23; /* low bits of t are n; |n| <= 127 here */
    float res = p * scale.f;
    res = x < lo ? 0.0f : res;
    res = x > hi ? INFINITY : res;
    return res;
}

/* max(x[0..n)) ignoring NaN (-inf for n == 0). */
NNX_MULTIVERSION static float nnx_row_max_f32(const float *x, ptrdiff_t n)
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
NNX_MULTIVERSION static float nnx_exp_shift_sum_f32(const float *x, float m, float *out,
                                                    ptrdiff_t n)
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
NNX_MULTIVERSION static void nnx_scale_f32(float *x, float a, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++) x[j] *= a;
}

#endif
