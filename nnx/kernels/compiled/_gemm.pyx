# cython: language_level=3
"""The compiled tier's GEMM: a blocked GEMM for every shape, no BLAS call.

Design: the loops of the GotoBLAS/BLIS structure live here (macro-tiles of C shared out by a
prange, KC slices of K, MC blocks of rows); packing and the register-tiled micro-kernels are
C in nnx_blocked.h (vector types and per-CPU code need C). The compiled tier never calls
OpenBLAS: its workers spin after each call beside the OpenMP kernels, and its results depend
on its thread count (bench/NOTES.md has the measurements).
Threads: OpenMP, the same pool as every other compiled kernel.
"""
import threading

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from ._bf16gemm cimport NNX_BF16_NPATHS, nnx_bf16_gemm_t, nnx_bf16_kernels, nnx_bf16_operand
from ._level cimport nnx_set_level

cdef extern from "nnx_blocked.h" nogil:
    void nnx_pack_f32(Py_ssize_t m, Py_ssize_t kc, const float* x, Py_ssize_t rs, Py_ssize_t cs,
                      float* dst, int w)
    void nnx_pack_f64(Py_ssize_t m, Py_ssize_t kc, const double* x, Py_ssize_t rs, Py_ssize_t cs,
                      double* dst, int w)
    ctypedef void (*nnx_uk_f32_t)(Py_ssize_t, const float*, const float*, float*, Py_ssize_t, int, int,
                                  const float*, int)
    ctypedef void (*nnx_uk_f64_t)(Py_ssize_t, const double*, const double*, double*, Py_ssize_t, int, int,
                                  const double*, int)
    nnx_uk_f32_t nnx_uk_f32
    nnx_uk_f64_t nnx_uk_f64
    void nnx_edge_f32(nnx_uk_f32_t uk, Py_ssize_t kc, const float* a, const float* b, float* c,
                      Py_ssize_t ldc, int rows, int cols, int load_c, const float* bias, int relu,
                      int mr, int nr)
    void nnx_edge_f64(nnx_uk_f64_t uk, Py_ssize_t kc, const double* a, const double* b, double* c,
                      Py_ssize_t ldc, int rows, int cols, int load_c, const double* bias, int relu,
                      int mr, int nr)
    nnx_uk_f32_t nnx_uk_narrow_f32
    nnx_uk_f64_t nnx_uk_narrow_f64
    int NNX_MR_NARROW, NNX_NR_NARROW_F32, NNX_NR_NARROW_F64
    int nnx_mr_f32, nnx_nr_f32, nnx_mr_f64, nnx_nr_f64
    const char* nnx_uk_name

cdef extern from "nnx_bf16.h" nogil:
    void nnx_round_bf16_f32(const float* x, float* y, Py_ssize_t n)

# The bf16 paths, by the index nnx_gemm_bf16.h gives them (0: the float32 GEMM on rounded panels)
BF16_PATHS = tuple(nnx_bf16_kernels[i].name.decode() for i in range(NNX_BF16_NPATHS))


def bf16_path_built(int path):
    """Whether this build has the kernels of bf16 path ``path`` (an index into BF16_PATHS)."""
    return path == 0 or (0 <= path < NNX_BF16_NPATHS and nnx_bf16_kernels[path].gemm != NULL)


# Cache blocking (elements). KC x NR of packed B (the micro-panel reused by every row panel)
# should sit in L1, MC x KC of packed A in L2, KC x NC of packed B in L2/L3; see
# bench/README.md for the measurements behind these numbers. Constants, never derived from the
# thread count: the KC slices fix the summation order.
KC_F32, MC_F32, NC_F32 = 256, 96, 1024
KC_F64, MC_F64, NC_F64 = 128, 96, 512


def kernel_info():
    """``{"kernel", "mr_f32", "nr_f32", "mr_f64", "nr_f64", "kc_f32", ...}`` of this build/CPU."""
    return {"kernel": nnx_uk_name.decode(), "mr_f32": nnx_mr_f32, "nr_f32": nnx_nr_f32,
            "mr_f64": nnx_mr_f64, "nr_f64": nnx_nr_f64, "kc_f32": KC_F32, "mc_f32": MC_F32,
            "nc_f32": NC_F32, "kc_f64": KC_F64, "mc_f64": MC_F64, "nc_f64": NC_F64}


cdef inline Py_ssize_t _cdiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef void _item(const floating* A, Py_ssize_t rsa, Py_ssize_t csa, const floating* B, Py_ssize_t rsb,
                Py_ssize_t csb, floating* C, Py_ssize_t ldc, const floating* bias, int relu, double beta,
                Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t col0, Py_ssize_t cols, Py_ssize_t K,
                Py_ssize_t KC, Py_ssize_t MC, floating* abuf, floating* bbuf, int mr, int nr,
                nnx_uk_f32_t uk32, nnx_uk_f64_t uk64, int bf16) noexcept nogil:
    """One macro-tile C[row0:row0+rows, col0:col0+cols] (cols <= NC), in the BLIS loop order:
    per KC slice, pack that slice of op(B) once, then per MC block of rows pack op(A) and run
    the micro-kernel over the tiles (column panels outer, so a packed B micro-panel stays in
    L1 while every row panel of the A block streams past it). ``bf16`` (float32 only): each
    packed panel is rounded to bfloat16 in place while it is in cache, so bf16 costs no extra
    pass over the operands in memory."""
    cdef Py_ssize_t pc, kc, ic, mc, ir, jr, i, j
    cdef int load_c, last, nrow, ncol
    cdef floating* ct
    cdef const floating* bp
    if beta != 0.0 and beta != 1.0:
        for i in range(rows):
            for j in range(cols):
                C[(row0 + i) * ldc + col0 + j] *= <floating>beta
    pc = 0
    while pc < K:  # (range() with a run-time step would go through Python objects)
        kc = min(KC, K - pc)
        last = pc + kc >= K
        load_c = pc > 0 or beta != 0.0
        # op(B)'s slice packed as its transpose: its columns are the panels' rows
        if floating is float:
            nnx_pack_f32(cols, kc, B + pc * rsb + col0 * csb, csb, rsb, bbuf, nr)
            if bf16:
                nnx_round_bf16_f32(bbuf, bbuf, _cdiv(cols, nr) * nr * kc)
        else:
            nnx_pack_f64(cols, kc, B + pc * rsb + col0 * csb, csb, rsb, bbuf, nr)
        ic = 0
        while ic < rows:
            mc = min(MC, rows - ic)
            if floating is float:
                nnx_pack_f32(mc, kc, A + (row0 + ic) * rsa + pc * csa, rsa, csa, abuf, mr)
                if bf16:
                    nnx_round_bf16_f32(abuf, abuf, _cdiv(mc, mr) * mr * kc)
            else:
                nnx_pack_f64(mc, kc, A + (row0 + ic) * rsa + pc * csa, rsa, csa, abuf, mr)
            jr = 0
            while jr < cols:
                ncol = <int>min(nr, cols - jr)
                bp = bias + col0 + jr if (last and bias != NULL) else NULL
                ir = 0
                while ir < mc:
                    nrow = <int>min(mr, mc - ir)
                    ct = C + (row0 + ic + ir) * ldc + col0 + jr
                    if ncol == nr:
                        if floating is float:
                            uk32(kc, abuf + ir * kc, bbuf + jr * kc, ct, ldc, nrow, load_c, bp, relu and last)
                        else:
                            uk64(kc, abuf + ir * kc, bbuf + jr * kc, ct, ldc, nrow, load_c, bp, relu and last)
                    else:
                        if floating is float:
                            nnx_edge_f32(uk32, kc, abuf + ir * kc, bbuf + jr * kc, ct, ldc, nrow, ncol,
                                         load_c, bp, relu and last, mr, nr)
                        else:
                            nnx_edge_f64(uk64, kc, abuf + ir * kc, bbuf + jr * kc, ct, ldc, nrow, ncol,
                                         load_c, bp, relu and last, mr, nr)
                    ir += mr
                jr += nr
            ic += mc
        pc += kc


_scratch = threading.local()


def _buffers(dtype, Py_ssize_t threads, Py_ssize_t per_thread):
    """Per-thread packing space, kept between calls (one set per calling Python thread).

    Allocating it in every call cost more than the arithmetic on 2 threads: glibc gives each
    OpenMP worker its own arena and returns the freed megabyte to the kernel, so every call
    page-faulted it back in (measured: 128x784 @ 784x512 took longer on 2 threads than on 1).
    """
    key = (dtype, threads)
    cache = getattr(_scratch, "buffers", None)
    if cache is None:
        cache = _scratch.buffers = {}
    buf = cache.get(key)
    if buf is None or buf.shape[1] < per_thread:
        buf = cache[key] = np.empty((threads, per_thread + 64), dtype=dtype)
    return buf


cdef void _grid(Py_ssize_t m, Py_ssize_t n, Py_ssize_t mp, Py_ssize_t np_, Py_ssize_t nc_panels,
                int n_threads, Py_ssize_t* pm, Py_ssize_t* pn) noexcept:
    """The macro-tile grid (pm x pn parts of mp row and np_ column panels): column blocks of at
    most nc_panels panels, split further until every thread has work and the parts divide evenly.
    Each column part re-packs A (m x k values), each row part re-packs B (k x n), so the split goes
    along the dimension whose extra copy is the smaller one: rows when n < m, columns otherwise.
    Measured on 2 threads against splitting columns (medians of 30 alternating runs): the MLP's
    weight gradients 784x128 @ 128x512 10% and 512x128 @ 128x256 12% faster, 3136x128 @ 128x128 20%."""
    pm[0], pn[0] = 1, _cdiv(np_, nc_panels)
    while pm[0] * pn[0] < n_threads or (pm[0] * pn[0] % n_threads and pm[0] * pn[0] < 4 * n_threads):
        if pm[0] < mp and (n < m or pn[0] >= np_):
            pm[0] += 1
        elif pn[0] < np_:
            pn[0] += 1
        else:
            break


def gemm_blocked(const floating[:, :] a, const floating[:, :] b, floating[:, ::1] c, bint trans_a,
                 bint trans_b, double beta, const floating[::1] bias, bint relu, int n_threads,
                 bint bf16=False):
    """c := op(a) op(b) + beta c [+ bias per column] [ReLU], for any strides; K >= 1, M, N >= 1;
    ``bf16`` (float32 only): with op(a) and op(b) rounded to bfloat16 as they are packed.

    C is cut into macro-tiles (at most MC x NC, on multiples of the micro-tile) that are
    shared out between threads with a static schedule; each thread packs what its tile needs
    into its own 64-byte-aligned part of a buffer kept between calls. Returns 0.
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t isz = sizeof(floating)
    cdef Py_ssize_t rsa = a.strides[0] // isz, csa = a.strides[1] // isz
    cdef Py_ssize_t rsb = b.strides[0] // isz, csb = b.strides[1] // isz
    cdef int mr, nr
    cdef Py_ssize_t KC, MC, NC, mp, np_, pm, pn, items, w, i, j, r0, r1, c0, c1, t
    cdef floating* abuf
    cdef floating* bbuf
    cdef const floating* bias_p = &bias[0] if bias is not None else NULL
    if trans_a:
        rsa, csa = csa, rsa
    if trans_b:
        rsb, csb = csb, rsb
    cdef nnx_uk_f32_t uk32 = nnx_uk_f32
    cdef nnx_uk_f64_t uk64 = nnx_uk_f64
    if floating is float:
        mr, nr, KC, MC, NC = nnx_mr_f32, nnx_nr_f32, KC_F32, MC_F32, NC_F32
        if n <= NNX_NR_NARROW_F32 < nr:
            uk32, mr, nr = nnx_uk_narrow_f32, NNX_MR_NARROW, NNX_NR_NARROW_F32
    else:
        mr, nr, KC, MC, NC = nnx_mr_f64, nnx_nr_f64, KC_F64, MC_F64, NC_F64
        if n <= NNX_NR_NARROW_F64 < nr:
            uk64, mr, nr = nnx_uk_narrow_f64, NNX_MR_NARROW, NNX_NR_NARROW_F64
    MC = MC // mr * mr
    NC = NC // nr * nr
    # Equal KC slices (784 = 4 x 196, not 3 x 256 + 16): a thin last slice pays the per-tile
    # overhead for little work. Still a function of K alone, so the summation order is too.
    KC = _cdiv(k, _cdiv(k, KC))
    if (b.shape[1] if trans_b else b.shape[0]) != k or (a.shape[1] if trans_a else a.shape[0]) != m \
            or (b.shape[0] if trans_b else b.shape[1]) != n or k < 1 or m < 1 or n < 1 \
            or (bias is not None and bias.shape[0] != n):
        raise ValueError("gemm_blocked: inconsistent shapes")
    if bf16 and floating is not float:
        raise TypeError("gemm_blocked: bf16 needs float32 operands")
    mp, np_ = _cdiv(m, mr), _cdiv(n, nr)
    _grid(m, n, mp, np_, NC // nr, n_threads, &pm, &pn)
    items = pm * pn
    t = min(n_threads, items)
    # per thread: packed A (MC x KC) then packed B (KC x NC), both starting on 64-byte lines
    per = (MC * KC + 16) // 16 * 16 + NC * KC
    scratch = _buffers(np.float32 if floating is float else np.float64, t, per)
    cdef floating[:, ::1] sv = scratch
    cdef Py_ssize_t stride = sv.shape[1], shift = (-(<size_t>&sv[0, 0]) % 64) // isz
    if stride % 16:
        raise ValueError("gemm_blocked: scratch rows must keep 64-byte alignment")
    with nogil, parallel(num_threads=t):
        abuf = &sv[0, 0] + shift + threadid() * stride
        bbuf = abuf + (MC * KC + 16) // 16 * 16
        for w in prange(items, schedule='static'):
            i = w // pn
            j = w % pn
            r0 = mp * i // pm * mr
            r1 = min(m, mp * (i + 1) // pm * mr)
            c0 = np_ * j // pn * nr
            c1 = min(n, np_ * (j + 1) // pn * nr)
            _item(&a[0, 0], rsa, csa, &b[0, 0], rsb, csb, &c[0, 0], n, bias_p, relu, beta,
                  r0, r1 - r0, c0, c1 - c0, k, KC, MC, abuf, bbuf, mr, nr, uk32, uk64, bf16)
    return 0


cdef floating _dot(const floating* row, Py_ssize_t cs, const floating* v, Py_ssize_t vs,
                   Py_ssize_t k) noexcept nogil:
    """sum_k row[k*cs] * v[k*vs] in 8 interleaved partial sums (independent chains the compiler
    can keep in vector lanes), combined in a fixed tree: the order depends on k alone."""
    cdef floating s[8]
    cdef Py_ssize_t q, r, kk
    for r in range(8):
        s[r] = 0
    kk = k - k % 8
    if cs == 1 and vs == 1:
        for q in range(0, kk, 8):
            for r in range(8):
                s[r] += row[q + r] * v[q + r]
    else:
        for q in range(0, kk, 8):
            for r in range(8):
                s[r] += row[(q + r) * cs] * v[(q + r) * vs]
    for q in range(kk, k):
        s[q - kk] += row[q * cs] * v[q * vs]
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


def gemv(const floating[:, :] a, const floating[:, :] b, floating[:, ::1] c, bint trans_a,
         bint trans_b, double beta, const floating[::1] bias, bint relu, int n_threads):
    """gemm_blocked's contract when C has one column (A x) or one row (x B): a matrix-vector
    product needs no packing (packing would copy the whole matrix to use each value once).

    out[p] = sum_k v[k] M[p, k] over the matrix M (op(A), or op(B) transposed): a dot per p
    when M's rows are contiguous, else column-by-column sums over a block of p per thread
    (contiguous along p). Threads share the dots; the column sums run on one thread. Each
    element's summation order depends on the shapes and layout only, never on the thread count."""
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1], isz = sizeof(floating)
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t rsa = a.strides[0] // isz, csa = a.strides[1] // isz
    cdef Py_ssize_t rsb = b.strides[0] // isz, csb = b.strides[1] // isz
    cdef Py_ssize_t P, rs, cs, vs, p, kk, t
    cdef const floating* M
    cdef const floating* v
    cdef floating* out = &c[0, 0]
    cdef floating vk
    cdef const floating* bias_p = &bias[0] if bias is not None else NULL
    if trans_a:
        rsa, csa = csa, rsa
    if trans_b:
        rsb, csb = csb, rsb
    if (b.shape[1] if trans_b else b.shape[0]) != k or (a.shape[1] if trans_a else a.shape[0]) != m \
            or (b.shape[0] if trans_b else b.shape[1]) != n or k < 1 or (m != 1 and n != 1) \
            or (bias is not None and bias.shape[0] != n):
        raise ValueError("gemv: inconsistent shapes")
    if n == 1:  # C = op(A) x: M = op(A), v = op(B)'s column
        P, M, rs, cs, v, vs = m, &a[0, 0], rsa, csa, &b[0, 0], rsb
    else:       # C = x op(B): M[p, k] = op(B)[k, p], v = op(A)'s row
        P, M, rs, cs, v, vs = n, &b[0, 0], csb, rsb, &a[0, 0], csa
    acc_arr = np.zeros(P, np.float32 if floating is float else np.float64)
    cdef floating[::1] acc = acc_arr
    t = max(1, min(n_threads, P // 64))
    with nogil:
        if cs == 1 or rs != 1:
            for p in prange(P, num_threads=t, schedule='static'):
                acc[p] = _dot(M + p * rs, cs, v, vs, k)
        else:  # one thread: a second one splitting p measured slower (9.1 vs 5.6 ms, 1x20000 @ 20000x512)
            for kk in range(k):
                vk = v[kk * vs]
                for p in range(P):
                    acc[p] += vk * M[p + kk * cs]
        for p in range(P):
            if beta != 0:
                acc[p] += <floating>beta * out[p]
            if bias_p != NULL:
                acc[p] += bias_p[0 if n == 1 else p]
            out[p] = acc[p] if not relu or acc[p] > 0 or acc[p] != acc[p] else 0
    return 0


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"gemm": "blocked GEMM, micro-kernel " + nnx_uk_name.decode()}


def gemm_bf16(const float[:, :] a, const float[:, :] b, float[:, ::1] c, bint trans_a, bint trans_b,
              double beta, const float[::1] bias, bint relu, int n_threads, int path):
    """c := op(a) op(b) + beta c [+ bias] [ReLU] by the bf16 kernel ``path`` (1-4, BF16_PATHS):
    the operands rounded to bf16 while they are packed, float32 accumulation, the arithmetic of
    that instruction (nnx_gemm_bf16.h). The same macro-tile grid as gemm_blocked; every element
    is one accumulator carried through K in order, so the result does not depend on threads."""
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef nnx_bf16_operand A, B, As, Bs
    cdef Py_ssize_t mr, nr, KC, MC, NC, mp, np_, pm, pn, items, w, i, j, r0, r1, c0, c1, t, i_, j_
    cdef unsigned int* abuf
    cdef unsigned int* bbuf
    cdef const float* bias_p = &bias[0] if bias is not None else NULL
    cdef float* cp = &c[0, 0]
    cdef nnx_bf16_gemm_t kernel
    cdef int load_c = beta != 0.0
    if not (1 <= path < NNX_BF16_NPATHS) or nnx_bf16_kernels[path].gemm == NULL:
        raise ValueError(f"gemm_bf16: bf16 path {path} is not built")
    if (b.shape[1] if trans_b else b.shape[0]) != k or (a.shape[1] if trans_a else a.shape[0]) != m \
            or (b.shape[0] if trans_b else b.shape[1]) != n or k < 1 or m < 1 or n < 1 \
            or (bias is not None and bias.shape[0] != n):
        raise ValueError("gemm_bf16: inconsistent shapes")
    A.x, A.rs, A.cs, A.ro, A.co = &a[0, 0], a.strides[0] // 4, a.strides[1] // 4, NULL, NULL
    B.x, B.rs, B.cs, B.ro, B.co = &b[0, 0], b.strides[0] // 4, b.strides[1] // 4, NULL, NULL
    if trans_a:
        A.rs, A.cs = A.cs, A.rs
    if trans_b:
        B.rs, B.cs = B.cs, B.rs
    kernel = nnx_bf16_kernels[path].gemm
    mr, nr = nnx_bf16_kernels[path].mr, nnx_bf16_kernels[path].nr
    KC, MC, NC = nnx_bf16_kernels[path].kc, nnx_bf16_kernels[path].mc, nnx_bf16_kernels[path].nc
    if beta != 0.0 and beta != 1.0:  # the accumulators start at beta * C
        for i_ in range(m):
            for j_ in range(n):
                cp[i_ * n + j_] *= <float>beta
    mp, np_ = _cdiv(m, mr), _cdiv(n, nr)
    _grid(m, n, mp, np_, NC // nr, n_threads, &pm, &pn)
    items = pm * pn
    t = min(n_threads, items)
    # per thread, in 32-bit words: packed A (MC rows x KC/2 pairs), then packed B (KC/2 x NC)
    per = (MC * KC // 2 + 16) // 16 * 16 + NC * KC // 2
    scratch = _buffers(np.uint32, t, per)
    cdef unsigned int[:, ::1] sv = scratch
    cdef Py_ssize_t stride = sv.shape[1], shift = (-(<size_t>&sv[0, 0]) % 64) // 4
    with nogil, parallel(num_threads=t):
        abuf = &sv[0, 0] + shift + threadid() * stride
        bbuf = abuf + (MC * KC // 2 + 16) // 16 * 16
        for w in prange(items, schedule='static'):
            i = w // pn
            j = w % pn
            r0 = mp * i // pm * mr
            r1 = min(m, mp * (i + 1) // pm * mr)
            c0 = np_ * j // pn * nr
            c1 = min(n, np_ * (j + 1) // pn * nr)
            As = A
            As.x = A.x + r0 * A.rs
            Bs = B
            Bs.x = B.x + c0 * B.cs
            kernel(r1 - r0, c1 - c0, k, As, Bs, cp + r0 * n + c0, n, load_c,
                   bias_p + c0 if bias_p != NULL else NULL, relu, abuf, bbuf)
    return 0
