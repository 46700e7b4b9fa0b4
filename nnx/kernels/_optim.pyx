# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fused optimizer updates, compiled tier.

Design: an SGD step written as NumPy statements walks the parameter, gradient and momentum
buffer three or four times and allocates temporaries; for a small model that memory traffic,
not the GEMMs, becomes the bottleneck. Here each element is read once and written once
(parameter and buffer), in blocks spread over threads with a static prange. The arithmetic is
torch.optim.SGD's, statement for statement, so the same rounding steps happen in the same order.
"""
from cython cimport floating
from cython.parallel cimport prange

cdef Py_ssize_t BLOCK = 16384


cdef inline void _sgd_block(floating* p, const floating* g, floating* buf, Py_ssize_t n,
                            floating lr, floating mu, floating damp, floating wd,
                            bint nesterov, bint first) noexcept nogil:
    # One loop per case, with only loop-invariant conditions inside: gcc unswitches those and
    # vectorises each version (a store under a data-independent `if` in one general loop
    # defeated the vectoriser and cost 4x). ``1 - damp`` is applied only when damp != 0, as
    # torch adds with alpha=1 exactly then.
    cdef Py_ssize_t i
    cdef floating d, b, keep = 1 - damp
    if mu == 0:
        for i in range(n):
            d = g[i] + wd * p[i] if wd != 0 else g[i]
            p[i] = p[i] - lr * d
    elif first:
        for i in range(n):
            d = g[i] + wd * p[i] if wd != 0 else g[i]
            buf[i] = d
            p[i] = p[i] - lr * (d + mu * d if nesterov else d)
    else:
        for i in range(n):
            d = g[i] + wd * p[i] if wd != 0 else g[i]
            b = mu * buf[i] + (keep * d if damp != 0 else d)
            buf[i] = b
            p[i] = p[i] - lr * (d + mu * b if nesterov else b)


def sgd_update(floating[::1] p, const floating[::1] g, floating[::1] buf, double lr, double mu,
               double damp, double wd, bint nesterov, bint first, int n_threads):
    """p, buf := one torch SGD step (flat arrays; buf is not touched when mu == 0)."""
    cdef Py_ssize_t n = p.shape[0]
    cdef Py_ssize_t nb = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t blk, start
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            start = blk * BLOCK
            _sgd_block(&p[start], &g[start], &buf[start],
                       min(BLOCK, n - start), <floating>lr, <floating>mu, <floating>damp,
                       <floating>wd, nesterov, first)
