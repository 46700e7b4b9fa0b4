# cython: language_level=3
"""Convolution (per-sample GEMMs in nogil code) and im2col/col2im, compiled tier.

Design (stride 1 reads the zero-padded sample in place of im2col's columns, "wide" below):
- Batch-chunked, never the full column matrix: each thread owns scratch buffers for ONE
  sample's columns (C*KH*KW x OH*OW, a few hundred KB, L2-resident), reused for every sample
  it handles, instead of the (C*KH*KW x N*OH*OW) matrix the NumPy tier allocates (75 MB for a
  64x32x32x32 batch with 3x3 kernels).
- The GEMMs run in nnx_gemm.h's tile kernel inside the nogil prange; scratch is padded with
  zero rows/columns so the kernel only sees full MR x NR tiles. The output is written in NCHW
  directly (y[n] = W @ cols_n), with the bias added in the copy-out epilogue.
- Forward: prange over samples. Backward: prange over fixed chunks of CHUNK samples; each chunk
  accumulates its own dW = sum_n dY_n cols_n^T in order, and the caller adds the chunk
  partials in chunk order. The chunking depends only on N, never on the thread count, so dW is
  bit-identical for any number of threads. dx (when wanted) = col2im(W^T dY_n), sample by sample.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

cdef extern from "nnx_gemm_bf16.h" nogil:
    unsigned int* nnx_bf16_alloc(Py_ssize_t words)

from ._tiles cimport (NNX_MR, NNX_NR, NNX_NT_B, NNX_PANEL, nnx_gemm_ncols_f32, nnx_gemm_nt_f32,
                      nnx_gemm_nt_f64, nnx_gemm_tiles_f32, nnx_gemm_tiles_f64)
from ._bf16gemm cimport (NNX_BF16_NPATHS, nnx_bf16_abuf_words, nnx_bf16_bbuf_words, nnx_bf16_kernels,
                         nnx_bf16_operand)
from ._level cimport nnx_clone_name, nnx_set_level

MR = NNX_MR  # row multiple the callers pad W (forward) and W^T (backward) to
PANEL = NNX_PANEL  # column multiple of the tile GEMM's N: the dW^T form needs OC to be one
NT_B = NNX_NT_B  # row multiple of dY (output channels) for the weight-gradient kernel

CHUNK = 4  # samples per dW partial sum (fixed: the reduction order must not follow threads)


cdef inline Py_ssize_t _round_up(Py_ssize_t v, Py_ssize_t m) noexcept nogil:
    return (v + m - 1) // m * m


cdef inline Py_ssize_t _ncols(bint double) noexcept nogil:
    """The column multiple the scratch panels are padded to: what the tile GEMM's fastest kernel
    on this CPU steps by (32 floats with AVX-512, else 16; padding LeNet conv2's 140 wide columns
    to 160 instead of 144 cost ~10% of its forward on AVX2)."""
    return 16 if double else nnx_gemm_ncols_f32()


cdef _check_padding(Py_ssize_t w_rows, Py_ssize_t ckk_or_oc, Py_ssize_t oc, Py_ssize_t ckk,
                    object dw_parts, bint dw_as_nn):
    """The kernels write whole tiles into these buffers: refuse paddings that would overflow."""
    if w_rows % NNX_MR or w_rows < ckk_or_oc:
        raise ValueError(f"conv: padded weight rows {w_rows} must be a multiple of {NNX_MR} >= {ckk_or_oc}")
    if dw_parts is None:
        return
    shape = dw_parts.shape
    if dw_as_nn:
        ok = shape[1] == _round_up(ckk, NNX_MR) and shape[2] == oc and oc % NNX_PANEL == 0
    else:
        ok = shape[1] == _round_up(oc, NNX_NT_B) and shape[2] == _round_up(ckk, NNX_MR)
    if not ok:
        raise ValueError(f"conv: dw_parts has shape {tuple(shape)}, which does not fit OC={oc}, "
                         f"C*kh*kw={ckk} (dw_as_nn={dw_as_nn})")


cdef _check_bf16(int bf16, bint is_float):
    """A bf16 kernel index must name a built kernel, and only float32 data is rounded to bf16."""
    if bf16 and (not is_float or not (1 <= bf16 < NNX_BF16_NPATHS) or nnx_bf16_kernels[bf16].gemm == NULL):
        raise ValueError(f"conv: bf16 kernel {bf16} is not built or the data is not float32")


cdef inline int _gemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a, Py_ssize_t lda,
                      const Py_ssize_t* aoff, const floating* b, Py_ssize_t ldb,
                      const Py_ssize_t* boff, floating* c, Py_ssize_t ldc,
                      int accumulate) noexcept nogil:
    if floating is float:
        return nnx_gemm_tiles_f32(m, n, k, a, lda, aoff, b, ldb, boff, c, ldc, accumulate)
    return nnx_gemm_tiles_f64(m, n, k, a, lda, aoff, b, ldb, boff, c, ldc, accumulate)


cdef inline void _bf16(int path, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float* a, Py_ssize_t rsa,
                       const float* b, Py_ssize_t rsb, Py_ssize_t csb, const Py_ssize_t* bro,
                       const Py_ssize_t* bco, float* c, Py_ssize_t ldc, int load_c, unsigned int* abuf,
                       unsigned int* bbuf) noexcept nogil:
    """C (m x n, ldc) := [C +] A (m x k, rows rsa apart) B (k x n: element (q, j) at
    b[row(q) + col(j)], row(q) = bro[q] or q * rsb, col(j) = bco[j] or j * csb) by the bf16 kernel
    of path ``path`` (nnx_gemm_bf16.h): both operands rounded to bf16 as they are packed."""
    cdef nnx_bf16_operand A, B
    A.x, A.rs, A.cs, A.ro, A.co = a, rsa, 1, NULL, NULL
    B.x, B.rs, B.cs, B.ro, B.co = b, rsb, csb, bro, bco
    nnx_bf16_kernels[path].gemm(m, n, k, A, B, c, ldc, load_c, NULL, 0, abuf, bbuf)


cdef inline void _gemm_nt(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a, Py_ssize_t lda,
                          const floating* b, Py_ssize_t ldb, const Py_ssize_t* boff, floating* c,
                          Py_ssize_t ldc, int accumulate) noexcept nogil:
    if floating is float:
        nnx_gemm_nt_f32(m, n, k, a, lda, b, ldb, boff, c, ldc, accumulate)
    else:
        nnx_gemm_nt_f64(m, n, k, a, lda, b, ldb, boff, c, ldc, accumulate)


cdef inline void _valid_range(Py_ssize_t j, Py_ssize_t pw, Py_ssize_t sw, Py_ssize_t w,
                              Py_ssize_t ow, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Output columns [lo, hi) whose input column ow*sw + j - pw lies inside [0, w)."""
    cdef Py_ssize_t a = pw - j, b = w - 1 + pw - j
    lo[0] = 0 if a <= 0 else (a + sw - 1) // sw
    hi[0] = 0 if b < 0 else b // sw + 1
    if hi[0] > ow:
        hi[0] = ow
    if lo[0] > hi[0]:
        lo[0] = hi[0]


cdef void _im2col_sample(const floating* x, Py_ssize_t c, Py_ssize_t h, Py_ssize_t w,
                         Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t oh, Py_ssize_t ow,
                         floating* cols, Py_ssize_t ldc) noexcept nogil:
    """cols[r, oy*ow + ox] := xpad[ci, oy*sh + i, ox*sw + j] for r = (ci*kh + i)*kw + j."""
    cdef Py_ssize_t ci, i, j, oy, ox, yi, lo, hi, r
    cdef floating* dst
    cdef const floating* src
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                _valid_range(j, pw, sw, w, ow, &lo, &hi)
                for oy in range(oh):
                    dst = cols + r * ldc + oy * ow
                    yi = oy * sh + i - ph
                    if yi < 0 or yi >= h:
                        memset(dst, 0, ow * sizeof(floating))
                        continue
                    src = x + (ci * h + yi) * w + j - pw
                    # Rows are short (10-32 values): zero only the padded ends that exist, and
                    # copy short rows with a plain loop (a libc call costs more than the copy).
                    for ox in range(lo):
                        dst[ox] = 0
                    if sw == 1 and hi - lo >= 32:
                        memcpy(dst + lo, src + lo, (hi - lo) * sizeof(floating))
                    elif sw == 1:
                        for ox in range(lo, hi):
                            dst[ox] = src[ox]
                    else:
                        for ox in range(lo, hi):
                            dst[ox] = src[ox * sw]
                    for ox in range(hi, ow):
                        dst[ox] = 0


cdef void _col2im_sample(const floating* cols, Py_ssize_t ldc, Py_ssize_t c, Py_ssize_t h,
                         Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t oh, Py_ssize_t ow,
                         floating* dx) noexcept nogil:
    """dx (zeroed here) := sum of every column entry onto the pixel it was read from."""
    cdef Py_ssize_t ci, i, j, oy, ox, yi, lo, hi, r
    cdef const floating* src
    cdef floating* dst
    memset(dx, 0, c * h * w * sizeof(floating))
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                _valid_range(j, pw, sw, w, ow, &lo, &hi)
                for oy in range(oh):
                    yi = oy * sh + i - ph
                    if yi < 0 or yi >= h:
                        continue
                    src = cols + r * ldc + oy * ow
                    dst = dx + (ci * h + yi) * w + j - pw
                    if sw == 1:
                        for ox in range(lo, hi):
                            dst[ox] += src[ox]
                    else:
                        for ox in range(lo, hi):
                            dst[ox * sw] += src[ox]


def im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int kh, int kw, int sh, int sw,
           int ph, int pw, int oh, int ow, int n_threads):
    """cols (C*kh*kw, N*OH*OW) := the windows of x; one sample per prange iteration."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t p = oh * ow, ld = n * p, s
    with nogil:
        for s in prange(n, schedule='static', num_threads=n_threads):
            _im2col_sample(&x[s, 0, 0, 0], c, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
                           &cols[0, 0] + s * p, ld)


def col2im(const floating[:, ::1] cols, floating[:, :, :, ::1] dx, int kh, int kw, int sh, int sw,
           int ph, int pw, int oh, int ow, int n_threads):
    """dx := col2im(cols); each thread owns whole samples of dx, so no atomics are needed."""
    cdef Py_ssize_t n = dx.shape[0], c = dx.shape[1], h = dx.shape[2], w = dx.shape[3]
    cdef Py_ssize_t p = oh * ow, ld = n * p, s
    with nogil:
        for s in prange(n, schedule='static', num_threads=n_threads):
            _col2im_sample(&cols[0, 0] + s * p, ld, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow,
                           &dx[s, 0, 0, 0])


# ---- stride 1: the "wide" formulation -----------------------------------------------------
# For stride 1 the column matrix needs no copy at all. Lay the zero-padded sample out as
# xp (C, Hp, Wp) and compute every output row over the full padded width Wp instead of OW:
# then row r = (c, i, j) of the column matrix is the contiguous slice xp[off_r : off_r + NW]
# with off_r = c*Hp*Wp + i*Wp + j, so the GEMM reads shifted views of xp through a row-offset
# table. The Wp - OW extra outputs per row are computed and thrown away (12.5% more FLOPs for
# LeNet's first layer, 29% for its second), which costs far less than the ~1,500 short copies
# per sample that im2col needs. In backward, dY is laid out the same way with zeros in the
# extra columns, so they contribute nothing to dW, and col2im becomes one contiguous add per
# row. Caveat: a NaN or inf in x can reach dW entries through those zero-weighted extra
# columns (0 * NaN), where the true gradient would be finite; a NaN input makes the loss NaN
# anyway.

cdef inline Py_ssize_t _wide_len(Py_ssize_t c, Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t kw,
                                 Py_ssize_t nw) noexcept nogil:
    """Length of the padded-sample buffer: the image, slack for the last shifted view, and a
    zero tail of nw + NR values that the offsets of padding rows point to."""
    return c * hp * wp + wp + kw + NNX_NR + nw + NNX_NR


cdef inline void _fill_offsets(Py_ssize_t* offs, Py_ssize_t rows, Py_ssize_t c, Py_ssize_t kh,
                               Py_ssize_t kw, Py_ssize_t hp, Py_ssize_t wp) noexcept nogil:
    cdef Py_ssize_t r, ci, i, j, zero = c * hp * wp + wp + kw + NNX_NR
    for r in range(rows):
        if r < c * kh * kw:
            ci = r // (kh * kw)
            i = (r // kw) % kh
            j = r % kw
            offs[r] = (ci * hp + i) * wp + j
        else:
            offs[r] = zero


cdef inline void _load_padded(const floating* x, Py_ssize_t c, Py_ssize_t h, Py_ssize_t w,
                              Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t hp, Py_ssize_t wp,
                              floating* xp) noexcept nogil:
    """Copy one sample into the interior of xp (whose border is zero and stays zero)."""
    cdef Py_ssize_t ci, yy
    for ci in range(c):
        for yy in range(h):
            memcpy(xp + (ci * hp + yy + ph) * wp + pw, x + (ci * h + yy) * w, w * sizeof(floating))


cdef inline floating _epilogue(floating v, bint relu) noexcept nogil:
    """The fused ReLU of Conv2d+ReLU: 0 where v <= 0 (NaN passes), as nnx's relu kernel."""
    return 0 if relu and v <= 0 else v


cdef Py_ssize_t* _offsets(bint wide, Py_ssize_t rows, Py_ssize_t c, Py_ssize_t kh, Py_ssize_t kw,
                          Py_ssize_t hp, Py_ssize_t wp) noexcept nogil:
    """The wide layout's row-offset table, or a 1-entry placeholder. Each thread allocates its
    own after its big buffers: one table allocated first, before the parallel region, moved
    those buffers in the heap and made LeNet's conv layers 5-25% slower (measured)."""
    cdef Py_ssize_t* offs = <Py_ssize_t*> malloc((rows if wide else 1) * sizeof(Py_ssize_t))
    if offs != NULL and wide:
        _fill_offsets(offs, rows, c, kh, kw, hp, wp)
    return offs


def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, ::1] wpad,
                   const floating[::1] bias, floating[:, :, :, ::1] y, int kh, int kw, int sh,
                   int sw, int ph, int pw, bint relu, int n_threads, int bf16=0):
    """y[n] := W cols_n + b [then ReLU]. ``wpad`` is W as (round_up(OC, MR), C*kh*kw), zero rows
    appended; ``bias`` has OC entries (zeros when the layer has none). Stride 1 reads the wide
    layout (above), other strides im2col's columns. ``bf16`` (float32 only): the index of a bf16
    kernel (_gemm.BF16_PATHS, 1-4) that computes W cols_n, x and W rounded as it packs them; 0:
    the float32 tile GEMM. Returns 0, or -1 if out of memory."""
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t oc = y.shape[1], oh = y.shape[2], ow = y.shape[3]
    cdef Py_ssize_t ocp = wpad.shape[0], ckk = wpad.shape[1], hp = h + 2 * ph, wp = w + 2 * pw
    cdef bint wide = sh == 1 and sw == 1
    cdef Py_ssize_t rs = wp if wide else ow  # stride of an output row in the GEMM's output
    cdef Py_ssize_t nrow = oh if wide else 1, rlen = ow if wide else oh * ow  # contiguous runs
    cdef Py_ssize_t nb = _round_up(oh * rs, _ncols(floating is double))  # the GEMM's N
    cdef Py_ssize_t blen = _wide_len(c, hp, wp, kw, nb) if wide else ckk * nb
    cdef Py_ssize_t s, o, oy, ox
    cdef floating* xb
    cdef floating* out
    cdef floating* dst
    cdef const floating* src
    cdef floating bo
    cdef int failed = 0
    cdef int* fail = &failed  # written through a pointer: a shared flag, not a private copy
    cdef Py_ssize_t* offs
    cdef unsigned int* abuf
    cdef unsigned int* bbuf
    cdef Py_ssize_t awords = nnx_bf16_abuf_words(bf16, oc, ckk) if bf16 else 1
    cdef Py_ssize_t bwords = nnx_bf16_bbuf_words(bf16, nb, ckk) if bf16 else 1
    _check_padding(ocp, oc, oc, ckk, None, False)
    _check_bf16(bf16, floating is float)
    with nogil, parallel(num_threads=n_threads):
        xb = <floating*> calloc(blen, sizeof(floating))  # borders / padded columns stay 0
        out = <floating*> malloc(ocp * nb * sizeof(floating))
        offs = _offsets(wide, ckk, c, kh, kw, hp, wp)
        abuf = nnx_bf16_alloc(awords)
        bbuf = nnx_bf16_alloc(bwords)
        if xb == NULL or out == NULL or offs == NULL or abuf == NULL or bbuf == NULL:
            fail[0] = 1
        for s in prange(n, schedule='static'):
            if xb == NULL or out == NULL or offs == NULL or abuf == NULL or bbuf == NULL:
                continue
            if wide:
                _load_padded(&x[s, 0, 0, 0], c, h, w, ph, pw, hp, wp, xb)
            else:
                _im2col_sample(&x[s, 0, 0, 0], c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, xb, nb)
            if floating is float:
                if bf16:
                    _bf16(bf16, oc, nb, ckk, &wpad[0, 0], ckk, xb, nb, 1, offs if wide else NULL, NULL,
                          out, nb, 0, abuf, bbuf)
            if not bf16 and _gemm(ocp, nb, ckk, &wpad[0, 0], ckk, NULL, xb, 0 if wide else nb,
                                  offs if wide else NULL, out, nb, 0):
                fail[0] = 1
                continue
            for o in range(oc):
                bo = bias[o]
                for oy in range(nrow):
                    dst = &y[s, o, 0, 0] + oy * ow
                    src = out + o * nb + oy * rs
                    for ox in range(rlen):
                        dst[ox] = _epilogue(src[ox] + bo, relu)
        free(xb)
        free(out)
        free(offs)
        free(abuf)
        free(bbuf)
    return -1 if failed else 0


def conv2d_backward(const floating[:, :, :, ::1] x, const floating[:, ::1] wt,
                    const floating[:, :, :, ::1] dy, floating[:, :, ::1] dw_parts, bint dw_as_nn,
                    floating[:, :, :, ::1] dx, bint input_grad, int kh, int kw, int sh, int sw,
                    int ph, int pw, int n_threads, int bf16=0):
    """Weight-gradient partials per chunk of CHUNK samples, and dx when ``input_grad``.

    Two forms of dW_chunk = sum_n dY_n cols_n^T, chosen by the caller:
    - ``dw_as_nn``: dw_parts[k] is dW^T, (round_up(C*kh*kw, MR) x round_up(OC, NR)), computed
      as cols_n (tile GEMM) dY_n^T -- best when OC fills the 16-wide tiles;
    - otherwise dw_parts[k] is dW, (round_up(OC, NT_B) x round_up(C*kh*kw, MR)), from the
      dot-product kernel -- no padding of a small OC up to 16 (LeNet's 6 channels).
    dx[n] := col2im(W^T dY_n) (stride 1: one add per row of the wide layout). ``wt`` is W^T as
    (round_up(C*kh*kw, MR), OC), zero rows appended. ``bf16`` (float32 only, not with dw_as_nn):
    the index of a bf16 kernel (_gemm.BF16_PATHS, 1-4) for dW = dY_n cols_n^T and W^T dY_n, the
    operands rounded as it packs them; 0: the float32 kernels. Returns 0, or -1 if out of memory.
    """
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t oc = dy.shape[1], oh = dy.shape[2], ow = dy.shape[3]
    cdef Py_ssize_t ckkp = wt.shape[0], ckk = c * kh * kw, hp = h + 2 * ph, wp = w + 2 * pw
    cdef bint wide = sh == 1 and sw == 1
    cdef Py_ssize_t rs = wp if wide else ow  # stride of a dY row in the padded dY
    cdef Py_ssize_t nrow = oh if wide else 1, rlen = ow if wide else oh * ow  # contiguous runs
    cdef Py_ssize_t nb = _round_up(oh * rs, _ncols(floating is double))  # padded columns
    cdef Py_ssize_t kt = nb if wide else oh * ow  # the dW^T GEMM's K (rows of dY^T)
    cdef Py_ssize_t blen = _wide_len(c, hp, wp, kw, nb) if wide else ckkp * nb
    cdef Py_ssize_t ocp = _round_up(oc, NNX_NT_B), ocq = dw_parts.shape[2] if dw_as_nn else 0
    cdef Py_ssize_t n_chunks = dw_parts.shape[0], chunk = CHUNK
    cdef Py_ssize_t k, s, o, oy, ox, r, q, yy, ci, first
    cdef floating* xb
    cdef floating* dxp
    cdef floating* dyb
    cdef floating* dybt
    cdef floating* dcols
    cdef const floating* src
    cdef floating* dst
    cdef floating* dc
    cdef int failed = 0
    cdef int* fail = &failed
    cdef Py_ssize_t* offs
    cdef unsigned int* abuf
    cdef unsigned int* bbuf
    cdef Py_ssize_t awords = 1, bwords = 1
    if bf16:  # the scratch of the larger of dW's and dx's GEMMs
        awords = max(nnx_bf16_abuf_words(bf16, ocp, nb), nnx_bf16_abuf_words(bf16, ckk, oc))
        bwords = max(nnx_bf16_bbuf_words(bf16, ckkp, nb), nnx_bf16_bbuf_words(bf16, nb, oc))
    _check_padding(ckkp, ckk, oc, ckk, dw_parts, dw_as_nn)
    _check_bf16(bf16, floating is float)
    if bf16 and dw_as_nn:
        raise ValueError("conv2d_backward: a bf16 kernel computes dW as dY cols^T (dw_as_nn=False)")
    with nogil, parallel(num_threads=n_threads):
        xb = <floating*> calloc(blen, sizeof(floating))             # borders / padding stay 0
        dcols = <floating*> malloc(ckkp * nb * sizeof(floating))
        dyb = <floating*> calloc(ocp * nb, sizeof(floating))        # extra columns/rows stay 0
        dybt = <floating*> calloc(kt * ocq if dw_as_nn else 1, sizeof(floating))
        dxp = <floating*> malloc((blen if wide else 1) * sizeof(floating))
        offs = _offsets(wide, ckkp, c, kh, kw, hp, wp)
        abuf = nnx_bf16_alloc(awords)
        bbuf = nnx_bf16_alloc(bwords)
        if xb == NULL or dxp == NULL or dyb == NULL or dybt == NULL or dcols == NULL or offs == NULL \
                or abuf == NULL or bbuf == NULL:
            fail[0] = 1
        for k in prange(n_chunks, schedule='static'):
            if xb == NULL or dxp == NULL or dyb == NULL or dybt == NULL or dcols == NULL or offs == NULL \
                    or abuf == NULL or bbuf == NULL:
                continue
            first = 1
            for s in range(k * chunk, min(n, (k + 1) * chunk)):
                if wide:
                    _load_padded(&x[s, 0, 0, 0], c, h, w, ph, pw, hp, wp, xb)
                else:
                    _im2col_sample(&x[s, 0, 0, 0], c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, xb, nb)
                for o in range(oc):
                    for oy in range(nrow):
                        src = &dy[s, o, 0, 0] + oy * ow
                        if input_grad or not dw_as_nn:  # dY with padded rows: NT kernel / dx
                            dst = dyb + o * nb + oy * rs
                            for ox in range(rlen):
                                dst[ox] = src[ox]
                        if dw_as_nn:
                            for ox in range(rlen):
                                dybt[(oy * rs + ox) * ocq + o] = src[ox]
                if floating is float:
                    if bf16:  # dW += dY_n cols_n^T (column r of cols^T is a row of xb), padding included
                        _bf16(bf16, ocp, ckkp, nb, dyb, nb, xb, 1, nb, NULL, offs if wide else NULL,
                              &dw_parts[k, 0, 0], ckkp, 0 if first else 1, abuf, bbuf)
                if bf16:
                    pass
                elif dw_as_nn:
                    if _gemm(ckkp, ocq, kt, xb, 0 if wide else nb, offs if wide else NULL, dybt, ocq, NULL,
                             &dw_parts[k, 0, 0], ocq, 0 if first else 1):
                        fail[0] = 1
                else:
                    _gemm_nt(ocp, ckkp, nb, dyb, nb, xb, 0 if wide else nb, offs if wide else NULL,
                             &dw_parts[k, 0, 0], ckkp, 0 if first else 1)
                first = 0
                if not input_grad:
                    continue
                if floating is float:
                    if bf16:
                        _bf16(bf16, ckk, nb, oc, &wt[0, 0], oc, dyb, nb, 1, NULL, NULL, dcols, nb, 0, abuf,
                              bbuf)
                if not bf16 and _gemm(ckkp, nb, oc, &wt[0, 0], oc, NULL, dyb, nb, NULL, dcols, nb, 0):
                    fail[0] = 1
                    continue
                if not wide:
                    _col2im_sample(dcols, nb, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, &dx[s, 0, 0, 0])
                    continue
                memset(dxp, 0, blen * sizeof(floating))
                for r in range(ckk):
                    dst = dxp + offs[r]
                    dc = dcols + r * nb
                    for q in range(nb):
                        dst[q] += dc[q]
                for ci in range(c):
                    for yy in range(h):
                        memcpy(&dx[s, ci, yy, 0], dxp + (ci * hp + yy + ph) * wp + pw, w * sizeof(floating))
        free(xb)
        free(dxp)
        free(dyb)
        free(dybt)
        free(dcols)
        free(offs)
        free(abuf)
        free(bbuf)
    return -1 if failed else 0


def set_level(int level):
    """Run this module's kernels at CPU level ``level`` (nnx/kernels/cpu.py; set on import)."""
    nnx_set_level(level)


def variants():
    """Which code each kernel family of this module runs at the level in force."""
    return {"conv": f"tile GEMM {nnx_gemm_ncols_f32()}-column panels, " + nnx_clone_name().decode()}
