/* nnx_optim.h -- the per-element loops of the fused optimizer updates (_optim.pyx).
 *
 * Why C: Adam, Adagrad and RMSprop divide by a square root per element, so unlike SGD they are
 * bound by arithmetic, not memory. Compiled for the portable baseline (as Cython's own loops
 * are) they ran 4-wide SSE or scalar at ~2.5 ns per element (Adam on a 784x256 weight: 0.5 ms,
 * a sixth of an MLP step); here each loop is cloned per CPU level (nnx_clones.h) so an AVX2 or AVX-512
 * CPU runs 8 or 16 lanes. The statements are torch.optim's, in torch's order; one loop per case
 * with no branch inside, so each vectorises. Each element is independent: the result does not
 * depend on the thread count or the block split (an FMA CPU fuses a multiply-add, as the GEMMs
 * do; docs/determinism.md).
 */
#ifndef NNX_FN
#ifndef NNX_OPTIM_H
#define NNX_OPTIM_H
#include <math.h>
#include <stddef.h>

#define NNX_OPTIM_FNS(X)                                                                      \
    X(void, nnx_sgd_f32, (float *p, const float *g, float *buf, ptrdiff_t n, float lr, float mu, float damp, float wd, int nesterov, int first))\
    X(void, nnx_adam_f32, (float *p, const float *g, float *m, float *v, ptrdiff_t n, float lr, float b1, float b2, float eps, float wd, float step_size, float inv_sqrt_bc2, int decoupled))\
    X(void, nnx_adagrad_f32, (float *p, const float *g, float *s, ptrdiff_t n, float lr, float eps, float wd))\
    X(void, nnx_rmsprop_f32, (float *p, const float *g, float *v, float *m, float *b, ptrdiff_t n, float lr, float alpha, float eps, float wd, float mu, int centered))\
    X(void, nnx_sgd_f64, (double *p, const double *g, double *buf, ptrdiff_t n, double lr, double mu, double damp, double wd, int nesterov, int first))\
    X(void, nnx_adam_f64, (double *p, const double *g, double *m, double *v, ptrdiff_t n, double lr, double b1, double b2, double eps, double wd, double step_size, double inv_sqrt_bc2, int decoupled))\
    X(void, nnx_adagrad_f64, (double *p, const double *g, double *s, ptrdiff_t n, double lr, double eps, double wd))\
    X(void, nnx_rmsprop_f64, (double *p, const double *g, double *v, double *m, double *b, ptrdiff_t n, double lr, double alpha, double eps, double wd, double mu, int centered))

#define NNX_CLONE_FILE "nnx_optim.h"
#include "nnx_clones.h"
NNX_TABLE(nnx_optim, NNX_OPTIM_FNS)
#define nnx_sgd_f32 NNX_CALL(nnx_optim, nnx_sgd_f32)
#define nnx_adam_f32 NNX_CALL(nnx_optim, nnx_adam_f32)
#define nnx_adagrad_f32 NNX_CALL(nnx_optim, nnx_adagrad_f32)
#define nnx_rmsprop_f32 NNX_CALL(nnx_optim, nnx_rmsprop_f32)
#define nnx_sgd_f64 NNX_CALL(nnx_optim, nnx_sgd_f64)
#define nnx_adam_f64 NNX_CALL(nnx_optim, nnx_adam_f64)
#define nnx_adagrad_f64 NNX_CALL(nnx_optim, nnx_adagrad_f64)
#define nnx_rmsprop_f64 NNX_CALL(nnx_optim, nnx_rmsprop_f64)
#endif
#else /* the clone body */

#define NNX_DEFINE_OPTIM(T, SFX, SQRT)                                                           \
/* SGD (momentum mu, dampening damp, Nesterov); buf is not touched when mu == 0. */               \
static void NNX_FN(nnx_sgd_##SFX)(T *p, const T *g, T *buf, ptrdiff_t n, T lr, T mu,    \
                                           T damp, T wd, int nesterov, int first)                 \
{                                                                                                 \
    const T keep = 1 - damp;                                                                      \
    if (mu == 0) {                                                                                \
        for (ptrdiff_t i = 0; i < n; i++) {                                                       \
            T d = wd != 0 ? g[i] + wd * p[i] : g[i];                                              \
            p[i] = p[i] - lr * d;                                                                 \
        }                                                                                         \
    } else if (first) {                                                                           \
        for (ptrdiff_t i = 0; i < n; i++) {                                                       \
            T d = wd != 0 ? g[i] + wd * p[i] : g[i];                                              \
            buf[i] = d;                                                                           \
            p[i] = p[i] - lr * (nesterov ? d + mu * d : d);                                       \
        }                                                                                         \
    } else {                                                                                      \
        for (ptrdiff_t i = 0; i < n; i++) {                                                       \
            T d = wd != 0 ? g[i] + wd * p[i] : g[i];                                              \
            T b = mu * buf[i] + (damp != 0 ? keep * d : d); /* torch adds 1-damp only then */    \
            buf[i] = b;                                                                           \
            p[i] = p[i] - lr * (nesterov ? d + mu * b : b);                                       \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
/* Adam (coupled weight decay) or AdamW (decoupled); step_size = lr / (1 - b1^t). */              \
static void NNX_FN(nnx_adam_##SFX)(T *p, const T *g, T *m, T *v, ptrdiff_t n, T lr,     \
                                            T b1, T b2, T eps, T wd, T step_size,                 \
                                            T inv_sqrt_bc2, int decoupled)                        \
{                                                                                                 \
    const T keep = 1 - lr * wd; /* == 1 exactly when wd == 0 */                                   \
    if (wd == 0 || decoupled) {                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                                       \
            T d = g[i], pi = p[i] * keep;                                                         \
            T mi = m[i] + (d - m[i]) * (1 - b1), vi = v[i] * b2 + (1 - b2) * d * d;               \
            m[i] = mi;                                                                            \
            v[i] = vi;                                                                            \
            p[i] = pi - step_size * (mi / (SQRT(vi) * inv_sqrt_bc2 + eps));                       \
        }                                                                                         \
    } else {                                                                                      \
        for (ptrdiff_t i = 0; i < n; i++) {                                                       \
            T pi = p[i], d = g[i] + wd * pi;                                                      \
            T mi = m[i] + (d - m[i]) * (1 - b1), vi = v[i] * b2 + (1 - b2) * d * d;               \
            m[i] = mi;                                                                            \
            v[i] = vi;                                                                            \
            p[i] = pi - step_size * (mi / (SQRT(vi) * inv_sqrt_bc2 + eps));                       \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
/* Adagrad (lr already decayed for this step). */                                                \
static void NNX_FN(nnx_adagrad_##SFX)(T *p, const T *g, T *s, ptrdiff_t n, T lr, T eps, \
                                               T wd)                                              \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        T d = wd != 0 ? g[i] + wd * p[i] : g[i];                                                  \
        T si = s[i] + d * d;                                                                      \
        s[i] = si;                                                                                \
        p[i] = p[i] - lr * (d / (SQRT(si) + eps));                                                \
    }                                                                                             \
}                                                                                                 \
/* RMSprop: v square_avg, m grad_avg (read only when centered), b momentum (only when mu > 0). */ \
static void NNX_FN(nnx_rmsprop_##SFX)(T *p, const T *g, T *v, T *m, T *b, ptrdiff_t n,  \
                                               T lr, T alpha, T eps, T wd, T mu, int centered)    \
{                                                                                                 \
    for (ptrdiff_t i = 0; i < n; i++) {                                                           \
        T d = g[i] + wd * p[i];                                                                   \
        T vi = v[i] * alpha + (1 - alpha) * d * d;                                                \
        v[i] = vi;                                                                                \
        if (centered) {                                                                           \
            T mi = m[i] + (d - m[i]) * (1 - alpha);                                               \
            m[i] = mi;                                                                            \
            vi = vi - mi * mi;                                                                    \
        }                                                                                         \
        T q = d / (SQRT(vi) + eps);                                                               \
        if (mu > 0) {                                                                             \
            T bi = b[i] * mu + q;                                                                 \
            b[i] = bi;                                                                            \
            p[i] = p[i] - lr * bi;                                                                \
        } else {                                                                                  \
            p[i] = p[i] - lr * q;                                                                 \
        }                                                                                         \
    }                                                                                             \
}

/* sqrtf, not sqrt, for float: a float -> double -> float round trip stops vectorisation. */
NNX_DEFINE_OPTIM(float, f32, sqrtf)
NNX_DEFINE_OPTIM(double, f64, sqrt)

#endif
