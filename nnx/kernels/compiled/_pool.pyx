# cython: language_level=3
"""Max and average pooling, compiled tier.

Design: the unit of work is one (H, W) plane of one sample and channel; planes go to threads
with a static prange, so every thread owns its planes of y/argmax (forward) and of dx
(backward): overlapping windows (stride < kernel) accumulate without atomics, and the result
does not depend on the thread count. Max pooling keeps torch's rules: the first maximum wins
a tie, and a NaN wins over numbers (``v > best or v != v``); argmax is the flat index
row * W + col inside the plane, as torch's max_pool2d_with_indices returns it.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.string cimport memset
from ._level cimport nnx_clone_name, nnx_set_level

cdef extern from "nnx_pool.h" nogil:
    void nnx_maxpool_plane_f32(const float* x, float* y, int64_t* arg, Py_ssize_t w,
                               Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t kh, Py_ssize_t kw,
                               Py_ssize_t sh, Py_ssize_t sw)
    void nnx_maxpool_plane_f64(const double* x, double* y, int64_t* arg, Py_ssize_t w,
                               Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t kh, Py_ssize_t kw,
                               Py_ssize_t sh, Py_ssize_t sw)


def maxpool2d_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                      int64_t[:, :, :, ::1] argmax, int kh, int kw, int sh, int sw, int n_threads):
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t oh = y.shape[2], ow = y.shape[3], planes = n * c
    cdef Py_ssize_t pl, ohw = oh * ow
    cdef const floating* xp
    with nogil:
        for pl in prange(planes, schedule='static', num_threads=n_threads):
            xp = &x[0, 0, 0, 0] + pl * h * w
            if floating is float:
                nnx_maxpool_plane_f32(xp, &y[0, 0, 0, 0] + pl * ohw, &argmax[0, 0, 0, 0] + pl * ohw,
                                      w, oh, ow, kh, kw, sh, sw)
            else:
                nnx_maxpool_plane_f64(xp, &y[0, 0, 0, 0] + pl * ohw, &argmax[0, 0, 0, 0] + pl * ohw,
                                      w, oh, ow, kh, kw, sh, sw)


def maxpool2d_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax,
                       floating[:, :, :, ::1] dx, int n_threads):
    cdef Py_ssize_t n = dx.shape[0], c = dx.shape[1], hw = dx.shape[2] * dx.shape[3]
    cdef Py_ssize_t oh = dy.shape[2], ow = dy.shape[3], planes = n * c
    cdef Py_ssize_t pl, s, ch, oy, ox
    cdef floating* dp
    with nogil:
        for pl in prange(planes, schedule='static', num_threads=n_threads):
            s = pl // c
            ch = pl % c
            dp = &dx[s, ch, 0, 0]
            memset(dp, 0, hw * sizeof(floating))
            for oy in range(oh):
                for ox in range(ow):
                    dp[argmax[s, ch, oy, ox]] += dy[s, ch, oy, ox]


def avgpool2d_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int kh, int kw,
                      int sh, int sw, int n_threads):
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], w = x.shape[3]
    cdef Py_ssize_t oh = y.shape[2], ow = y.shape[3], planes = n * c
    cdef Py_ssize_t pl, s, ch, oy, ox, i, j
    cdef floating acc, inv = 1 / <floating>(kh * kw)
    cdef const floating* xp
    with nogil:
        for pl in prange(planes, schedule='static', num_threads=n_threads):
            s = pl // c
            ch = pl % c
            xp = &x[s, ch, 0, 0]
            for oy in range(oh):
                for ox in range(ow):
                    acc = 0
                    for i in range(kh):
                        for j in range(kw):
                            acc = acc + xp[(oy * sh + i) * w + ox * sw + j]
                    y[s, ch, oy, ox] = acc * inv


def avgpool2d_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, int kh, int kw,
                       int sh, int sw, int n_threads):
    cdef Py_ssize_t n = dx.shape[0], c = dx.shape[1], w = dx.shape[3], hw = dx.shape[2] * dx.shape[3]
    cdef Py_ssize_t oh = dy.shape[2], ow = dy.shape[3], planes = n * c
    cdef Py_ssize_t pl, s, ch, oy, ox, i, j
    cdef floating g, inv = 1 / <floating>(kh * kw)
    cdef floating* dp
    with nogil:
        for pl in prange(planes, schedule='static', num_threads=n_threads):
            s = pl // c
            ch = pl % c
            dp = &dx[s, ch, 0, 0]
            memset(dp, 0, hw * sizeof(floating))
            for oy in range(oh):
                for ox in range(ow):
                    g = dy[s, ch, oy, ox] * inv
                    for i in range(kh):
                        for j in range(kw):
                            dp[(oy * sh + i) * w + ox * sw + j] += g


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"pooling": nnx_clone_name().decode()}
