# cython: language_level=3
"""Fused optimizer updates, compiled tier.

Design: an SGD step written as NumPy statements walks the parameter, gradient and momentum
buffer three or four times and allocates temporaries; for a small model that memory traffic,
not the GEMMs, becomes the bottleneck. Here each element is read once and written once
(parameter and buffer), in blocks spread over threads with a static prange. The arithmetic is
torch.optim.SGD's, statement for statement, so the same rounding steps happen in the same order.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

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


cdef inline floating _sqrt(floating x) noexcept nogil:
    # sqrtf for float: a float -> double -> float round trip through sqrt keeps gcc from
    # vectorising the loop.
    if floating is float:
        return sqrtf(x)
    return sqrt(x)


cdef inline void _adam_block(floating* p, const floating* g, floating* m, floating* v,
                             Py_ssize_t n, floating lr, floating b1, floating b2, floating eps,
                             floating wd, floating step_size, floating inv_sqrt_bc2,
                             bint decoupled) noexcept nogil:
    # torch.optim.Adam(W)'s statements in torch's order, fused into one pass per element; one
    # loop per weight-decay case so that each loop is branch-free and vectorises (as SGD).
    cdef Py_ssize_t i
    cdef floating d, pi, mi, vi, keep = 1 - lr * wd
    if wd == 0 or decoupled:
        for i in range(n):
            d = g[i]
            pi = p[i] * keep  # keep == 1 exactly when wd == 0
            mi = m[i] + (d - m[i]) * (1 - b1)
            vi = v[i] * b2 + (1 - b2) * d * d
            m[i] = mi
            v[i] = vi
            p[i] = pi - step_size * (mi / (_sqrt(vi) * inv_sqrt_bc2 + eps))
    else:
        for i in range(n):
            pi = p[i]
            d = g[i] + wd * pi
            mi = m[i] + (d - m[i]) * (1 - b1)
            vi = v[i] * b2 + (1 - b2) * d * d
            m[i] = mi
            v[i] = vi
            p[i] = pi - step_size * (mi / (_sqrt(vi) * inv_sqrt_bc2 + eps))


def adam_update(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
                double lr, double b1, double b2, double eps, double wd, long step,
                bint decoupled, int n_threads):
    """One Adam / AdamW step (1-based ``step``) on flat arrays, in place."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, start
    cdef floating step_size = <floating>(lr / (1 - b1 ** step))
    cdef floating inv_sqrt_bc2 = <floating>(1 / sqrt(1 - b2 ** step))
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            start = blk * BLOCK
            _adam_block(&p[start], &g[start], &m[start], &v[start], min(BLOCK, n - start),
                        <floating>lr, <floating>b1, <floating>b2, <floating>eps, <floating>wd,
                        step_size, inv_sqrt_bc2, decoupled)


cdef inline void _adagrad_block(floating* p, const floating* g, floating* s, Py_ssize_t n,
                                floating lr, floating eps, floating wd) noexcept nogil:
    # torch.optim.Adagrad's statements; one loop per weight-decay case, as SGD, so each vectorises.
    cdef Py_ssize_t i
    cdef floating d, si
    if wd == 0:
        for i in range(n):
            d = g[i]
            si = s[i] + d * d
            s[i] = si
            p[i] = p[i] - lr * (d / (_sqrt(si) + eps))
    else:
        for i in range(n):
            d = g[i] + wd * p[i]
            si = s[i] + d * d
            s[i] = si
            p[i] = p[i] - lr * (d / (_sqrt(si) + eps))


def adagrad_update(floating[::1] p, const floating[::1] g, floating[::1] s, double lr, double eps,
                   double wd, int n_threads):
    """One Adagrad step (``lr`` already decayed for this step) on flat arrays, in place."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, start
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            start = blk * BLOCK
            _adagrad_block(&p[start], &g[start], &s[start], min(BLOCK, n - start), <floating>lr,
                           <floating>eps, <floating>wd)


cdef inline floating _rms_denom(floating* v, floating* m, floating d, Py_ssize_t i, floating alpha,
                                floating eps, bint centered) noexcept nogil:
    # v, m := torch's square_avg and (centered) grad_avg updates; returns sqrt(v [- m^2]) + eps.
    # Called with a literal `centered`, so each caller's loop has no data-independent branch.
    cdef floating vi = v[i] * alpha + (1 - alpha) * d * d
    cdef floating mi
    v[i] = vi
    if centered:
        mi = m[i] + (d - m[i]) * (1 - alpha)
        m[i] = mi
        vi = vi - mi * mi
    return _sqrt(vi) + eps


cdef inline void _rmsprop_block(floating* p, const floating* g, floating* v, floating* m, floating* b,
                                Py_ssize_t n, floating lr, floating alpha, floating eps, floating wd,
                                floating mu, bint centered) noexcept nogil:
    # torch.optim.RMSprop's statements; four loops (momentum x centered) so that none branches.
    cdef Py_ssize_t i
    cdef floating d, bi
    if mu > 0 and centered:
        for i in range(n):
            d = g[i] + wd * p[i]
            bi = b[i] * mu + d / _rms_denom(v, m, d, i, alpha, eps, True)
            b[i] = bi
            p[i] = p[i] - lr * bi
    elif mu > 0:
        for i in range(n):
            d = g[i] + wd * p[i]
            bi = b[i] * mu + d / _rms_denom(v, m, d, i, alpha, eps, False)
            b[i] = bi
            p[i] = p[i] - lr * bi
    elif centered:
        for i in range(n):
            d = g[i] + wd * p[i]
            p[i] = p[i] - lr * (d / _rms_denom(v, m, d, i, alpha, eps, True))
    else:
        for i in range(n):
            d = g[i] + wd * p[i]
            p[i] = p[i] - lr * (d / _rms_denom(v, m, d, i, alpha, eps, False))


def rmsprop_update(floating[::1] p, const floating[::1] g, floating[::1] v, floating[::1] m,
                   floating[::1] b, double lr, double alpha, double eps, double wd, double mu,
                   bint centered, int n_threads):
    """One RMSprop step on flat arrays, in place; ``m`` is read only when ``centered``, ``b``
    only when ``mu > 0`` (otherwise the caller may pass any array of the right size)."""
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, start
    if n == 0:
        return
    with nogil:
        for blk in prange(nb, schedule='static', num_threads=n_threads):
            start = blk * BLOCK
            _rmsprop_block(&p[start], &g[start], &v[start], &m[start], &b[start], min(BLOCK, n - start),
                           <floating>lr, <floating>alpha, <floating>eps, <floating>wd, <floating>mu,
                           centered)
