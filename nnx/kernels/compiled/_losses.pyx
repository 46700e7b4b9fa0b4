# cython: language_level=3
"""Row-wise softmax family and the fused softmax-cross-entropy, compiled tier.

Design: one row at a time, start to finish, while the row sits in L1: max, exp(x - max) written
straight into the output, sum, then scale (softmax), shift (log_softmax), or scale, subtract the
one-hot and divide by N (cross-entropy gradient). No probability matrix is ever materialised
besides the output itself. Rows are spread over threads with a static prange, so each thread
owns its rows; per-row losses are written to ``row_loss`` and summed afterwards by the caller
in a fixed order (never a racy cross-thread float reduction), so the loss does not depend on
the thread count.

float32 rows go through the C primitives of nnx_softmax.h (nnx_math.h's branch-free vectorisable
expf, cloned per CPU level: x86-64-v4 / -v3 / baseline); float64 rows use the Cython loops below and
libm's exp. Reductions use independent lanes combined in a fixed order: gcc vectorises them
without -ffast-math, and the order depends only on the row length, never on threads.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, log, INFINITY
from libc.stdint cimport int64_t
from ._level cimport nnx_clone_name, nnx_set_level

cdef extern from "nnx_softmax.h" nogil:
    float nnx_row_max_f32(const float* x, Py_ssize_t n)
    float nnx_exp_shift_sum_f32(const float* x, float m, float* out, Py_ssize_t n)
    void nnx_scale_f32(float* x, float a, Py_ssize_t n)

cdef enum:
    LANES = 8


cdef inline floating _row_max(const floating* x, Py_ssize_t c) noexcept nogil:
    if floating is float:
        return nnx_row_max_f32(x, c)
    cdef floating acc[LANES]
    cdef floating v, m
    cdef Py_ssize_t j, k, c8 = c - c % LANES
    for k in range(LANES):
        acc[k] = -INFINITY
    for j in range(c8 // LANES):
        for k in range(LANES):
            v = x[j * LANES + k]
            acc[k] = v if v > acc[k] else acc[k]
    m = -INFINITY
    for k in range(LANES):
        m = acc[k] if acc[k] > m else m
    for j in range(c8, c):
        m = x[j] if x[j] > m else m
    return m


cdef inline floating _row_sum(const floating* x, Py_ssize_t c) noexcept nogil:
    cdef floating acc[LANES]
    cdef floating s
    cdef Py_ssize_t j, k, c8 = c - c % LANES
    for k in range(LANES):
        acc[k] = 0
    for j in range(c8 // LANES):
        for k in range(LANES):
            acc[k] += x[j * LANES + k]
    s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    for j in range(c8, c):
        s += x[j]
    return s


cdef inline floating _exp_shifted(const floating* x, floating m, floating* out,
                                  Py_ssize_t c) noexcept nogil:
    """out := exp(x - m); return sum(out)."""
    cdef Py_ssize_t j
    if floating is float:
        return nnx_exp_shift_sum_f32(x, m, out, c)
    for j in range(c):
        out[j] = exp(x[j] - m)
    return _row_sum(out, c)


cdef inline void _scale(floating* x, floating a, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t j
    if floating is float:
        nnx_scale_f32(x, a, c)
        return
    for j in range(c):
        x[j] = x[j] * a


def softmax(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """out[i] := exp(x[i] - max x[i]) / sum_j exp(x[i, j] - max x[i])."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], i
    cdef floating m, s
    if n == 0 or c == 0:
        return
    with nogil:
        for i in prange(n, schedule='static', num_threads=n_threads):
            m = _row_max(&x[i, 0], c)
            s = _exp_shifted(&x[i, 0], m, &out[i, 0], c)
            _scale(&out[i, 0], 1 / s, c)


def log_softmax(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """out[i] := x[i] - max x[i] - log sum_j exp(x[i, j] - max x[i])."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], i, j
    cdef floating m, s, shift
    if n == 0 or c == 0:
        return
    with nogil:
        for i in prange(n, schedule='static', num_threads=n_threads):
            m = _row_max(&x[i, 0], c)
            s = _exp_shifted(&x[i, 0], m, &out[i, 0], c)
            shift = m + <floating>log(s)
            for j in range(c):
                out[i, j] = x[i, j] - shift


def softmax_cross_entropy(const floating[:, ::1] logits, const int64_t[::1] labels,
                          floating[:, ::1] dlogits, double[::1] row_loss, int n_threads):
    """row_loss[i] := logsumexp(x[i]) - x[i, y_i];  dlogits := (softmax(x) - onehot(y)) / N."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i, y
    cdef floating m, s, inv_n = 1 / <floating>n
    with nogil:
        for i in prange(n, schedule='static', num_threads=n_threads):
            y = labels[i]
            m = _row_max(&logits[i, 0], c)
            s = _exp_shifted(&logits[i, 0], m, &dlogits[i, 0], c)
            row_loss[i] = log(<double>s) + <double>m - <double>logits[i, y]
            _scale(&dlogits[i, 0], inv_n / s, c)
            dlogits[i, y] -= inv_n


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"softmax": nnx_clone_name().decode()}
