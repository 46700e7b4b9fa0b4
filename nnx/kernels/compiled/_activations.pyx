# cython: language_level=3
"""Elementwise activations, compiled tier.

Design: the wrappers in compiled.py validate and allocate; here arrays arrive flat and
C-contiguous. Work is cut into fixed blocks of BLOCK elements and the blocks are spread over
threads with a static prange, so each thread owns a contiguous slice of the output. The loop
per block is C (nnx_act.h: float32 branch-free, so it vectorises, and compiled per CPU; float64
through libm); ReLU is a select, not a multiply: ``y = x`` unless ``x <= 0`` (NaN passes through
as in NumPy's maximum, negatives give +0.0), and backward routes ``dy`` where the mask is set and
writes exact zeros elsewhere (as torch's threshold_backward does; a NaN in dy at a masked-off
position does not leak).
"""
from cython cimport floating
from cython.parallel cimport prange
from ._level cimport nnx_clone_name, nnx_set_level

cdef Py_ssize_t BLOCK = 16384

cdef extern from "nnx_act.h" nogil:
    void nnx_relu_fwd_f32(const float* x, float* y, unsigned char* m, Py_ssize_t n)
    void nnx_relu_fwd_f64(const double* x, double* y, unsigned char* m, Py_ssize_t n)
    void nnx_relu_bwd_f32(const float* dy, const unsigned char* m, float* dx, Py_ssize_t n)
    void nnx_relu_bwd_f64(const double* dy, const unsigned char* m, double* dx, Py_ssize_t n)
    void nnx_unary_f32(const float* x, float* y, int kind, float p, Py_ssize_t n)
    void nnx_unary_f64(const double* x, double* y, int kind, double p, Py_ssize_t n)
    void nnx_unary_grad_f32(const float* dy, const float* x, const float* y, float* dx, int kind, float p,
                            Py_ssize_t n)
    void nnx_unary_grad_f64(const double* dy, const double* x, const double* y, double* dx, int kind,
                            double p, Py_ssize_t n)


def relu_forward(const floating[::1] x, floating[::1] y, unsigned char[::1] mask, int n_threads):
    """y := max(x, 0), mask := x > 0 (flat arrays of equal length)."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t nb = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b, start
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            start = b * BLOCK
            if floating is float:
                nnx_relu_fwd_f32(&x[start], &y[start], &mask[start], min(BLOCK, n - start))
            else:
                nnx_relu_fwd_f64(&x[start], &y[start], &mask[start], min(BLOCK, n - start))


def relu_backward(const floating[::1] dy, const unsigned char[::1] mask, floating[::1] dx,
                  int n_threads):
    """dx := dy where mask else 0 (flat arrays of equal length)."""
    cdef Py_ssize_t n = dy.shape[0]
    cdef Py_ssize_t nb = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b, start
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            start = b * BLOCK
            if floating is float:
                nnx_relu_bwd_f32(&dy[start], &mask[start], &dx[start], min(BLOCK, n - start))
            else:
                nnx_relu_bwd_f64(&dy[start], &mask[start], &dx[start], min(BLOCK, n - start))


def unary(const floating[::1] x, floating[::1] y, Unary kind, double param, int n_threads):
    """y := f(x) for ``kind`` (_activations.pxd); param is ELU's alpha or the leaky slope."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, s, m
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            s = b * BLOCK
            m = min(BLOCK, n - s)
            if floating is float:
                nnx_unary_f32(&x[s], &y[s], kind, <float>param, m)
            else:
                nnx_unary_f64(&x[s], &y[s], kind, param, m)


def unary_backward(const floating[::1] dy, const floating[::1] x, const floating[::1] y,
                   floating[::1] dx, Unary kind, double param, int n_threads):
    """dx := dy * f'(x) (from the saved x and/or y), kinds as in ``unary``."""
    cdef Py_ssize_t n = dy.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, s, m
    cdef floating p = <floating>param
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            s = b * BLOCK
            m = min(BLOCK, n - s)
            if floating is float:
                nnx_unary_grad_f32(&dy[s], &x[s], &y[s], &dx[s], kind, p, m)
            else:
                nnx_unary_grad_f64(&dy[s], &x[s], &y[s], &dx[s], kind, p, m)


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"activations": nnx_clone_name().decode()}
