# cython: language_level=3
"""Elementwise activations, compiled tier.

Design: the wrappers in compiled.py validate and allocate; here arrays arrive flat and
C-contiguous. Work is cut into fixed blocks of BLOCK elements and the blocks are spread over
threads with a static prange, so each thread owns a contiguous slice of the output. The inner
loop per block runs over raw pointers with no Python and no branches gcc cannot turn into
selects, so it vectorises. ReLU is a select, not a multiply: ``y = x`` unless ``x <= 0``
(NaN passes through as in NumPy's maximum, negatives give +0.0), and backward routes ``dy``
where the mask is set and writes exact zeros elsewhere (as torch's threshold_backward does;
a NaN in dy at a masked-off position does not leak).
"""
from cython cimport floating
from cython.parallel cimport prange

cdef Py_ssize_t BLOCK = 16384


cdef inline void _relu_fwd_block(const floating* x, floating* y, unsigned char* m,
                                 Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = x[i]
        m[i] = v > 0
        y[i] = 0 if v <= 0 else v


cdef inline void _relu_bwd_block(const floating* dy, const unsigned char* m, floating* dx,
                                 Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = dy[i]  # load unconditionally: a conditional load is control flow gcc won't vectorise
        dx[i] = v if m[i] else 0


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
            _relu_fwd_block(&x[start], &y[start], &mask[start], min(BLOCK, n - start))


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
            _relu_bwd_block(&dy[start], &mask[start], &dx[start], min(BLOCK, n - start))


# ---- smooth activations ---------------------------------------------------------------------
# Same block/prange layout as ReLU. Sigmoid uses the branch-free float expf of nnx_math.h on
# -|x| (never overflows; both branches of the stable formula from one exp). Tanh and ELU use
# libm's tanh and expm1: an exp-based tanh or exp(x) - 1 loses all relative accuracy near 0.
cdef extern from "nnx_math.h" nogil:
    float nnx_expf(float x)

from libc.math cimport exp, expm1, expm1f, fabs, tanh, tanhf  # noqa: E402


cdef inline void _sigmoid_block(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v, e
    for i in range(n):
        v = x[i]
        if floating is float:
            e = nnx_expf(-fabs(v))
        else:
            e = exp(-fabs(v))
        y[i] = 1 / (1 + e) if v >= 0 else e / (1 + e)


cdef inline void _tanh_block(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if floating is float:
            y[i] = tanhf(x[i])
        else:
            y[i] = tanh(x[i])


cdef inline void _elu_block(const floating* x, floating* y, floating alpha, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = x[i]
        if floating is float:
            y[i] = v if v > 0 else alpha * expm1f(v)
        else:
            y[i] = v if v > 0 else alpha * expm1(v)


cdef inline void _leaky_block(const floating* x, floating* y, floating slope, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = x[i]
        y[i] = v if v > 0 else v * slope


def unary(const floating[::1] x, floating[::1] y, Unary kind, double param, int n_threads):
    """y := f(x) for ``kind`` (_activations.pxd); param is ELU's alpha or the leaky slope."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start, m
    cdef floating p = <floating>param
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            start = b * BLOCK
            m = min(BLOCK, n - start)
            if kind == SIGMOID:
                _sigmoid_block(&x[start], &y[start], m)
            elif kind == TANH:
                _tanh_block(&x[start], &y[start], m)
            elif kind == ELU:
                _elu_block(&x[start], &y[start], p, m)
            else:
                _leaky_block(&x[start], &y[start], p, m)


cdef inline void _unary_grad_block(const floating* dy, const floating* x, const floating* y,
                                   floating* dx, Unary kind, floating p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
    if kind == SIGMOID:
        for i in range(n):
            dx[i] = dy[i] * y[i] * (1 - y[i])
    elif kind == TANH:
        for i in range(n):
            dx[i] = dy[i] * (1 - y[i] * y[i])
    elif kind == ELU:
        for i in range(n):
            v = dy[i]
            dx[i] = v if x[i] > 0 else v * (y[i] + p)
    else:
        for i in range(n):
            v = dy[i]
            dx[i] = v if x[i] > 0 else v * p


def unary_backward(const floating[::1] dy, const floating[::1] x, const floating[::1] y,
                   floating[::1] dx, Unary kind, double param, int n_threads):
    """dx := dy * f'(x) (from the saved x and/or y), kinds as in ``unary``."""
    cdef Py_ssize_t n = dy.shape[0], nb = (n + BLOCK - 1) // BLOCK, b, start
    cdef floating p = <floating>param
    if n == 0:
        return
    with nogil:
        for b in prange(nb, schedule='static', num_threads=n_threads):
            start = b * BLOCK
            _unary_grad_block(&dy[start], &x[start], &y[start], &dx[start], kind, p, min(BLOCK, n - start))
