# cython: language_level=3
"""Batch normalisation over the channel axis, compiled tier.

Design: the input is viewed as (N, C, S) (S = spatial size, 1 for (N, C) input); channels go
to threads with a static prange, so each thread owns whole channels: its statistics, its slice
of the output and of dx, and its entries of dgamma/dbeta. One channel is handled start to
finish: the statistics pass (sums in double, in a fixed order -> independent of the thread
count), then one fused pass writing xhat and y = gamma * xhat + beta. Backward: one pass for
the two channel sums, one fused pass for dx.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt


def batchnorm_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                      const floating[::1] beta, floating[:, :, ::1] xhat, floating[:, :, ::1] y,
                      double[::1] mean, double[::1] var, floating[::1] invstd, double eps,
                      int n_threads):
    """Training-mode forward: batch mean and biased variance per channel, xhat, y."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], s = x.shape[2], ch, i, j
    cdef double acc, acc2, m, d
    cdef floating inv, g, b
    with nogil:
        for ch in prange(c, schedule='static', num_threads=n_threads):
            acc = 0
            for i in range(n):
                for j in range(s):
                    acc = acc + x[i, ch, j]
            m = acc / (n * s)
            acc2 = 0
            for i in range(n):
                for j in range(s):
                    d = x[i, ch, j] - m
                    acc2 = acc2 + d * d
            mean[ch] = m
            var[ch] = acc2 / (n * s)
            inv = <floating>(1.0 / sqrt(var[ch] + eps))
            invstd[ch] = inv
            g = gamma[ch]
            b = beta[ch]
            for i in range(n):
                for j in range(s):
                    xhat[i, ch, j] = (x[i, ch, j] - <floating>m) * inv
                    y[i, ch, j] = xhat[i, ch, j] * g + b


def batchnorm_backward(const floating[:, :, ::1] dy, const floating[:, :, ::1] xhat,
                       const floating[::1] invstd, const floating[::1] gamma,
                       floating[:, :, ::1] dx, floating[::1] dgamma, floating[::1] dbeta,
                       int n_threads):
    """dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)); dgamma, dbeta per channel."""
    cdef Py_ssize_t n = dy.shape[0], c = dy.shape[1], s = dy.shape[2], ch, i, j
    cdef double s1, s2, cnt = n * s
    cdef floating k, a1, a2
    with nogil:
        for ch in prange(c, schedule='static', num_threads=n_threads):
            s1 = 0
            s2 = 0
            for i in range(n):
                for j in range(s):
                    s1 = s1 + dy[i, ch, j]
                    s2 = s2 + dy[i, ch, j] * xhat[i, ch, j]
            dbeta[ch] = <floating>s1
            dgamma[ch] = <floating>s2
            k = <floating>(gamma[ch] * invstd[ch] / cnt)
            a1 = <floating>s1
            a2 = <floating>s2
            for i in range(n):
                for j in range(s):
                    dx[i, ch, j] = k * (<floating>cnt * dy[i, ch, j] - a1 - xhat[i, ch, j] * a2)
