/* nnx_math.h -- a vectorisable float32 exp, shared by the softmax rows and the activations.
 *
 * Why C and not Cython: two things Cython cannot express.
 * 1. A branch-free expf. glibc's expf is only called in vector form under -ffast-math, which
 *    nnx never uses (it breaks NaN/inf handling). nnx_expf is the Cephes range reduction
 *    exp(x) = 2^n exp(r), r = x - n ln2, |r| <= ln2/2, with its degree-6 minimax polynomial
 *    (about 1 ulp). n is rounded with the 1.5*2^23 trick, whose low mantissa bits then hold n,
 *    so no float->int conversion is needed and plain SSE2 vectorises it.
 *    Edge cases: NaN -> NaN; x < -87.336 (incl. -inf) -> 0 (subnormal results flushed);
 *    x > 88.37 (incl. +inf) -> +inf.
 * 2. The per-CPU clones of the loops that use it (nnx_clones.h): the softmax rows
 *    (nnx_softmax.h) and the activations (nnx_act.h) run 4, 8 or 16 lanes of it.
 */
#ifndef NNX_MATH_H
#define NNX_MATH_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline __attribute__((always_inline)) float nnx_expf(float x)
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

#endif
