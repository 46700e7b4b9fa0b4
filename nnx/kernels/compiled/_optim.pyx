# cython: language_level=3
"""Fused optimizer updates, compiled tier.

Design: an SGD step written as NumPy statements walks the parameter, gradient and momentum
buffer three or four times and allocates temporaries; for a small model that memory traffic,
not the GEMMs, becomes the bottleneck. Here each element is read once and written once
(parameter and buffers), in blocks spread over threads with a static prange. The arithmetic is
torch.optim's, statement for statement, so the same rounding steps happen in the same order;
the per-element loops are C (nnx_optim.h), cloned per CPU level (nnx_clones.h).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from ._level cimport nnx_clone_name, nnx_set_level

cdef extern from "nnx_optim.h" nogil:
    void nnx_sgd_f32(float*, const float*, float*, Py_ssize_t, float, float, float, float, int, int)
    void nnx_sgd_f64(double*, const double*, double*, Py_ssize_t, double, double, double, double, int,
                     int)
    void nnx_adam_f32(float*, const float*, float*, float*, Py_ssize_t, float, float, float, float,
                      float, float, float, int)
    void nnx_adam_f64(double*, const double*, double*, double*, Py_ssize_t, double, double, double,
                      double, double, double, double, int)
    void nnx_adagrad_f32(float*, const float*, float*, Py_ssize_t, float, float, float)
    void nnx_adagrad_f64(double*, const double*, double*, Py_ssize_t, double, double, double)
    void nnx_rmsprop_f32(float*, const float*, float*, float*, float*, Py_ssize_t, float, float, float,
                         float, float, int)
    void nnx_rmsprop_f64(double*, const double*, double*, double*, double*, Py_ssize_t, double, double,
                         double, double, double, int)

cdef Py_ssize_t BLOCK = 16384


def sgd_update(floating[::1] p, const floating[::1] g, floating[::1] buf, double lr, double mu,
               double damp, double wd, bint nesterov, bint first, int n_threads):
    """p, buf := one torch SGD step (flat arrays; buf is not touched when mu == 0)."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, s, k
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            s = blk * BLOCK
            k = min(BLOCK, n - s)
            if floating is float:
                nnx_sgd_f32(&p[s], &g[s], &buf[s], k, <float>lr, <float>mu, <float>damp, <float>wd,
                            nesterov, first)
            else:
                nnx_sgd_f64(&p[s], &g[s], &buf[s], k, lr, mu, damp, wd, nesterov, first)


def adam_update(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr, double b1, double b2, double eps, double wd, long step,
                bint decoupled, int n_threads):
    """One Adam / AdamW step (1-based ``step``) on flat arrays, in place."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, s, k
    cdef double step_size = lr / (1 - b1 ** step), inv_sqrt_bc2 = 1 / sqrt(1 - b2 ** step)
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            s = blk * BLOCK
            k = min(BLOCK, n - s)
            if floating is float:
                nnx_adam_f32(&p[s], &g[s], &m[s], &v[s], k, <float>lr, <float>b1, <float>b2, <float>eps,
                             <float>wd, <float>step_size, <float>inv_sqrt_bc2, decoupled)
            else:
                nnx_adam_f64(&p[s], &g[s], &m[s], &v[s], k, lr, b1, b2, eps, wd, step_size, inv_sqrt_bc2,
                             decoupled)


def adagrad_update(floating[::1] p, const floating[::1] g, floating[::1] s, double lr, double eps,
                   double wd, int n_threads):
    """One Adagrad step (``lr`` already decayed for this step) on flat arrays, in place."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, k
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            i = blk * BLOCK
            k = min(BLOCK, n - i)
            if floating is float:
                nnx_adagrad_f32(&p[i], &g[i], &s[i], k, <float>lr, <float>eps, <float>wd)
            else:
                nnx_adagrad_f64(&p[i], &g[i], &s[i], k, lr, eps, wd)


def rmsprop_update(floating[::1] p, const floating[::1] g, floating[::1] v, floating[::1] m,
                   floating[::1] b, double lr, double alpha, double eps, double wd, double mu,
                   bint centered, int n_threads):
    """One RMSprop step on flat arrays, in place; ``m`` is read only when ``centered``, ``b``
    only when ``mu > 0`` (otherwise the caller may pass any array of the right size)."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, s, k
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            s = blk * BLOCK
            k = min(BLOCK, n - s)
            if floating is float:
                nnx_rmsprop_f32(&p[s], &g[s], &v[s], &m[s], &b[s], k, <float>lr, <float>alpha, <float>eps,
                                <float>wd, <float>mu, centered)
            else:
                nnx_rmsprop_f64(&p[s], &g[s], &v[s], &m[s], &b[s], k, lr, alpha, eps, wd, mu, centered)


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"optimizers": nnx_clone_name().decode()}
