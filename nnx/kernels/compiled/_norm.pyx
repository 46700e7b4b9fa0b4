# cython: language_level=3
"""Batch normalisation over the channel axis, compiled tier.

Design: the input is viewed as (N, C, S) (S = spatial size, 1 for (N, C) input) and the
per-element loops are C (nnx_norm.h, compiled per CPU). Spatial input: channels go to threads
with a static prange, each handled start to finish (statistics in double lanes, then one fused
pass writing xhat and y = gamma * xhat + beta). (N, C) input: blocks of NNX_BN_BLOCK channels go
to threads, each block's rows read contiguously. Every sum runs in an order fixed by the shape,
so the results do not depend on the thread count. Backward: the two channel sums, then one fused
pass for dx.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from ._level cimport nnx_clone_name, nnx_set_level

cdef extern from "nnx_norm.h" nogil:
    int NNX_BN_BLOCK
    void nnx_bn_sums_f32(const float* a, const float* b, Py_ssize_t n, Py_ssize_t c, Py_ssize_t s,
                         Py_ssize_t c0, Py_ssize_t c1, const double* sub, int sq, double* o1, double* o2)
    void nnx_bn_sums_f64(const double* a, const double* b, Py_ssize_t n, Py_ssize_t c, Py_ssize_t s,
                         Py_ssize_t c0, Py_ssize_t c1, const double* sub, int sq, double* o1, double* o2)
    void nnx_bn_apply_f32(const float* x, const float* p, float* out1, float* out2, Py_ssize_t n,
                          Py_ssize_t c, Py_ssize_t s, Py_ssize_t c0, Py_ssize_t c1, const float* m,
                          const float* inv, const float* g, const float* b, int fwd)
    void nnx_bn_apply_f64(const double* x, const double* p, double* out1, double* out2, Py_ssize_t n,
                          Py_ssize_t c, Py_ssize_t s, Py_ssize_t c0, Py_ssize_t c1, const double* m,
                          const double* inv, const double* g, const double* b, int fwd)


# The unit of parallel work: a block of NNX_BN_BLOCK channels for (N, C) input (s == 1), whose
# rows the loops walk together, or one channel of spatial input. Every kernel splits alike.
cdef inline Py_ssize_t _units(Py_ssize_t c, Py_ssize_t s) noexcept nogil:
    return (c + NNX_BN_BLOCK - 1) // NNX_BN_BLOCK if s == 1 else c


cdef inline Py_ssize_t _unit_start(Py_ssize_t unit, Py_ssize_t s) noexcept nogil:
    return unit * NNX_BN_BLOCK if s == 1 else unit


cdef inline Py_ssize_t _unit_end(Py_ssize_t unit, Py_ssize_t c, Py_ssize_t s) noexcept nogil:
    return min(c, (unit + 1) * NNX_BN_BLOCK) if s == 1 else unit + 1


cdef inline void _sums(const floating* a, const floating* b, Py_ssize_t n, Py_ssize_t c, Py_ssize_t s,
                       Py_ssize_t c0, Py_ssize_t c1, const double* sub, int sq, double* o1,
                       double* o2) noexcept nogil:
    if floating is float:
        nnx_bn_sums_f32(a, b, n, c, s, c0, c1, sub, sq, o1, o2)
    else:
        nnx_bn_sums_f64(a, b, n, c, s, c0, c1, sub, sq, o1, o2)


cdef inline void _apply(const floating* x, const floating* p, floating* out1, floating* out2, Py_ssize_t n,
                        Py_ssize_t c, Py_ssize_t s, Py_ssize_t c0, Py_ssize_t c1, const floating* m,
                        const floating* inv, const floating* g, const floating* b, int fwd) noexcept nogil:
    if floating is float:
        nnx_bn_apply_f32(x, p, out1, out2, n, c, s, c0, c1, m, inv, g, b, fwd)
    else:
        nnx_bn_apply_f64(x, p, out1, out2, n, c, s, c0, c1, m, inv, g, b, fwd)


def batchnorm_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                      const floating[::1] beta, floating[:, :, ::1] xhat, floating[:, :, ::1] y,
                      double[::1] mean, double[::1] var, floating[::1] invstd, double eps,
                      int n_threads):
    """Training-mode forward: batch mean and biased variance per channel, xhat, y."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], s = x.shape[2], ch, blk, c0, c1
    cdef double cnt = n * s
    cdef floating[::1] mf = np.empty(c, dtype=np.float32 if floating is float else np.float64)
    if n * s == 0 or c == 0:
        return
    with nogil:
        for blk in prange(_units(c, s), schedule='static', num_threads=n_threads):
            c0, c1 = _unit_start(blk, s), _unit_end(blk, c, s)
            _sums(&x[0, 0, 0], <const floating*>NULL, n, c, s, c0, c1, NULL, 0, &mean[c0], NULL)
            for ch in range(c0, c1):
                mean[ch] = mean[ch] / cnt
            _sums(&x[0, 0, 0], <const floating*>NULL, n, c, s, c0, c1, &mean[c0], 1, &var[c0], NULL)
            for ch in range(c0, c1):
                var[ch] = var[ch] / cnt
                invstd[ch] = <floating>(1.0 / sqrt(var[ch] + eps))
                mf[ch] = <floating>mean[ch]
            _apply(&x[0, 0, 0], <const floating*>NULL, &xhat[0, 0, 0], &y[0, 0, 0], n, c, s, c0, c1,
                   &mf[0], &invstd[0], &gamma[0], &beta[0], 1)


def normalize(const floating[:, :, ::1] x, const floating[::1] mean, const floating[::1] std,
              floating[:, :, ::1] y, int n_threads):
    """y := (x - mean) / std per channel (Normalize; its backward is this with mean 0): a division,
    as the other tiers do it, so every tier gives the same bits."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], s = x.shape[2], p, j, i, ch
    cdef floating m, sd
    with nogil:
        for p in prange(n * c, schedule='static', num_threads=n_threads):
            i = p // c
            ch = p % c
            m = mean[ch]
            sd = std[ch]
            for j in range(s):
                y[i, ch, j] = (x[i, ch, j] - m) / sd


def batchnorm_apply(const floating[:, :, ::1] x, const floating[::1] mean, const floating[::1] invstd,
                    const floating[::1] gamma, const floating[::1] beta, floating[:, :, ::1] xhat,
                    floating[:, :, ::1] y, int n_threads):
    """Eval-mode forward with given statistics: xhat = (x - mean) invstd, y = xhat gamma + beta."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], s = x.shape[2], blk, c0, c1
    if n * s == 0 or c == 0:
        return
    with nogil:
        for blk in prange(_units(c, s), schedule='static', num_threads=n_threads):
            c0, c1 = _unit_start(blk, s), _unit_end(blk, c, s)
            _apply(&x[0, 0, 0], <const floating*>NULL, &xhat[0, 0, 0], &y[0, 0, 0], n, c, s, c0, c1,
                   &mean[0], &invstd[0], &gamma[0], &beta[0], 1)


def batchnorm_backward(const floating[:, :, ::1] dy, const floating[:, :, ::1] xhat,
                       const floating[::1] invstd, const floating[::1] gamma,
                       floating[:, :, ::1] dx, floating[::1] dgamma, floating[::1] dbeta,
                       int n_threads):
    """dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)); dgamma, dbeta per channel."""
    cdef Py_ssize_t n = dy.shape[0], c = dy.shape[1], s = dy.shape[2], ch, blk, c0, c1
    cdef double cnt = n * s
    dt = np.float32 if floating is float else np.float64
    cdef double[::1] s1 = np.empty(c), s2 = np.empty(c)
    cdef floating[::1] k = np.empty(c, dtype=dt), cf = np.full(c, cnt, dtype=dt)
    if n * s == 0 or c == 0:
        return
    with nogil:
        for blk in prange(_units(c, s), schedule='static', num_threads=n_threads):
            c0, c1 = _unit_start(blk, s), _unit_end(blk, c, s)
            _sums(&dy[0, 0, 0], &xhat[0, 0, 0], n, c, s, c0, c1, NULL, 0, &s1[c0], &s2[c0])
            for ch in range(c0, c1):
                dbeta[ch] = <floating>s1[ch]
                dgamma[ch] = <floating>s2[ch]
                k[ch] = <floating>(gamma[ch] * invstd[ch] / cnt)
            # the two sums rounded to the dtype are dbeta and dgamma themselves
            _apply(&dy[0, 0, 0], &xhat[0, 0, 0], &dx[0, 0, 0], NULL, n, c, s, c0, c1, &dbeta[0], &dgamma[0],
                   &k[0], &cf[0], 0)


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"batchnorm": nnx_clone_name().decode()}
