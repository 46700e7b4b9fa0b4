# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
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
