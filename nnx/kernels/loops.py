"""Reference tier: plain Python loops, one scalar at a time.

Obviously correct and hopelessly slow: use it on tiny inputs, to read, and as the reference the
other tiers are tested against. Same names and signatures as ``vectorized`` and ``compiled``.
"""
import math

import numpy as np

from . import _args
from .contract import KERNELS

__all__ = list(KERNELS)


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, bias=None, relu=False, bf16=False,
         n_threads=None):
    """C := op(A) op(B) + beta C [+ bias] [then ReLU].

    Parameters
    ----------
    a, b : ndarray, 2-D, same float dtype
    trans_a, trans_b : bool
        Use the transpose of ``a`` / ``b``.
    out : ndarray (M, N), optional
        Written in place; read only when ``beta != 0`` (then it is required).
    beta : float
    bias : ndarray (N,), optional
        Added to every row (the fused epilogue of ``Linear``).
    relu : bool
        Apply ReLU (``0 if v <= 0 else v``) to the result (``Linear`` followed by ``ReLU``).
    bf16 : bool or str
        True: round ``a`` and ``b`` to bfloat16 first (float32 only), ``nnx.autocast``'s
        arithmetic, with float32 sums. A path name (``"avx512_bf16"``, ``"amx"``, or their
        ``"-portable"`` twins; ``"emulated"`` is True): that instruction's arithmetic, below.

    Returns
    -------
    ndarray (M, N)
    """
    a, b, m, n, k, out, beta = _args.gemm_args(a, b, trans_a, trans_b, out, beta)
    bias, relu = _args.gemm_epilogue_args(bias, relu, n, a.dtype)
    bf16 = _args.bf16_args(bf16, a.dtype, "gemm")
    if bf16:
        a, b = round_bf16(a), round_bf16(b)
    c = np.empty((m, n), dtype=a.dtype) if out is None else out
    if bf16 and _args.bf16_arithmetic(bf16) != "emulated":
        return _bf16_chain_gemm(a, b, trans_a, trans_b, c, beta, bias, relu, _args.bf16_arithmetic(bf16))
    for i in range(m):
        for j in range(n):
            acc = 0.0
            for p in range(k):
                aip = a[p, i] if trans_a else a[i, p]
                bpj = b[j, p] if trans_b else b[p, j]
                acc += aip * bpj
            v = acc + beta * c[i, j] if beta != 0.0 else acc
            if bias is not None:
                v += bias[j]
            c[i, j] = 0.0 if relu and v <= 0 else v
    return c


def round_bf16(x, *, n_threads=None):
    """x rounded to bfloat16, kept in float32: add 0x7fff plus the lowest kept bit to the bits,
    clear the low 16 (round to nearest even; a carry rounds up to the next power of two or to
    infinity); a NaN is quieted (bit 22 set) and keeps its sign and top payload."""
    x = _args.round_bf16_args(x)
    y = np.empty_like(x)
    bits_x, bits_y = x.reshape(-1).view(np.uint32), y.reshape(-1).view(np.uint32)
    for i in range(bits_x.size):
        u = int(bits_x[i])
        if u & 0x7FFFFFFF > 0x7F800000:
            u = (u | 0x00400000) & 0xFFFF0000
        else:
            u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
        bits_y[i] = u
    return y


# ---- the arithmetic of the bf16 instructions (nnx_bf16ops.h), one number at a time ------------
def _bits(v):
    return int(np.float32(v).view(np.uint32))


def _daz(v):
    """A denormal float32 (exponent bits all zero) reads as a zero of its sign."""
    return math.copysign(0.0, v) if _bits(v) & 0x7F800000 == 0 else float(v)


def _ftz_round(s):
    """A Python float (double) rounded to float32, nearest even; a result that is tiny after
    rounding, as if the exponent range were unbounded, becomes a zero of its sign."""
    with np.errstate(over="ignore"):
        if not abs(s) < 2.0 ** -100:
            return np.float32(s)
        scaled = np.float32(s * 2.0 ** 64)  # into float32's normal range: 24 bits, then compare
    if abs(scaled) < 2.0 ** -62:
        return np.float32(math.copysign(0.0, scaled))
    return np.float32(float(scaled) * 2.0 ** -64)


def _quiet(v):
    return np.uint32(_bits(v) | 0x400000).view(np.float32)


def _bf16_fma(a, b, c):
    """fma(a, b, c) with DAZ inputs and an FTZ result; a NaN operand gives the first NaN, quieted.
    The product of two bf16 values is exact in a double, and the double sum rounds once more to
    float32 without a double-rounding error (53 >= 2 * 24 + 2 bits)."""
    for v in (a, b, c):
        if math.isnan(v):
            return _quiet(v)
    return _ftz_round(_daz(a) * _daz(b) + _daz(c))


def _bf16_add(a, b):
    """a + b with DAZ inputs and an FTZ result (tdpbf16ps's last two steps)."""
    for v in (a, b):
        if math.isnan(v):
            return _quiet(v)
    return _ftz_round(_daz(a) + _daz(b))


def _bf16_chain_gemm(a, b, trans_a, trans_b, c, beta, bias, relu, arithmetic):
    """The bf16 kernels' arithmetic on bf16-rounded a and b (see ``vectorized._bf16_chain_gemm``):
    each element's accumulator starts at beta * c and takes K's pairs in order."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    mult = 2 if arithmetic == "dp" else 32
    kp = -(-k // mult) * mult

    def ab(i, j, p):  # op(A)[i, p], op(B)[p, j], zeros past K
        if p >= k:
            return 0.0, 0.0
        return float(a[p, i] if trans_a else a[i, p]), float(b[j, p] if trans_b else b[p, j])

    for i in range(m):
        for j in range(n):
            acc = np.float32(0.0) if beta == 0.0 else c[i, j] if beta == 1.0 else np.float32(c[i, j] * np.float32(beta))
            if arithmetic == "dp":
                for p in range(0, kp, 2):  # the odd element of the pair first
                    (a0, b0), (a1, b1) = ab(i, j, p), ab(i, j, p + 1)
                    acc = _bf16_fma(a0, b0, _bf16_fma(a1, b1, acc))
            else:
                for k0 in range(0, kp, 32):  # one tdpbf16ps: 16 pairs, even and odd sums apart
                    e = o = np.float32(0.0)
                    for p in range(k0, k0 + 32, 2):
                        (a0, b0), (a1, b1) = ab(i, j, p), ab(i, j, p + 1)
                        e, o = _bf16_fma(a0, b0, e), _bf16_fma(a1, b1, o)
                    acc = _bf16_add(acc, _bf16_add(e, o))
            v = np.float32(acc + bias[j]) if bias is not None else acc
            c[i, j] = 0.0 if relu and v <= 0 else v
    return c


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) elementwise (NaN passes through); mask = x > 0.

    Returns
    -------
    y : ndarray, like x
    mask : ndarray of bool, like x
    """
    x = _args.relu_forward_args(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=bool)
    xf, yf, mf = x.reshape(-1), y.reshape(-1), mask.reshape(-1)
    for i in range(xf.size):
        v = xf[i]
        mf[i] = v > 0
        yf[i] = 0 if v <= 0 else v
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else 0 (exact zeros: a NaN in dy where mask is False does not leak)."""
    dy, mask = _args.relu_backward_args(dy, mask)
    dx = np.empty_like(dy)
    df, mf, xf = dy.reshape(-1), mask.reshape(-1), dx.reshape(-1)
    for i in range(df.size):
        xf[i] = df[i] if mf[i] else 0
    return dx


def _row_max_sumexp(row):
    m = -math.inf
    for v in row:
        if v > m:
            m = v
    s = 0.0
    for v in row:
        s += math.exp(v - m)  # NaN in, NaN out; v - m <= 0 so no overflow
    return m, s


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array: exp(x - max) / sum(exp(x - max))."""
    x = _args.rows_args(x, "softmax")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        m, s = _row_max_sumexp(x[i].tolist())
        for j in range(x.shape[1]):
            out[i, j] = math.exp(x[i, j] - m) / s
    return out


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array: x - max - log(sum(exp(x - max)))."""
    x = _args.rows_args(x, "log_softmax")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        m, s = _row_max_sumexp(x[i].tolist())
        shift = m + math.log(s)
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] - shift
    return out


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Returns
    -------
    loss : float
        ``mean_i (logsumexp(logits[i]) - logits[i, labels[i]])``.
    dlogits : ndarray (N, C)
        ``(softmax(logits) - onehot(labels)) / N``.
    """
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    n, c = logits.shape
    dlogits = np.empty_like(logits)
    total = 0.0
    for i in range(n):
        m, s = _row_max_sumexp(logits[i].tolist())
        y = int(labels[i])
        total += math.log(s) + m - float(logits[i, y])
        for j in range(c):
            p = math.exp(logits[i, j] - m) / s
            dlogits[i, j] = (p - (1.0 if j == y else 0.0)) / n
    return total / n, dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One torch.optim.SGD step for one parameter, **in place** on ``param`` and the buffer.

    ``d = grad + weight_decay * param``; with momentum, ``buf = d`` on the first step, else
    ``buf = momentum * buf + (1 - dampening) * d``, and ``d = d + momentum * buf`` (Nesterov)
    or ``d = buf``; then ``param -= lr * d``. ``momentum_buffer`` may be None without momentum.
    """
    _args.sgd_update_args(param, grad, momentum_buffer, momentum, lr, dampening, weight_decay)
    p, g = param.reshape(-1), grad.reshape(-1)
    b = momentum_buffer.reshape(-1) if momentum_buffer is not None else None
    t = param.dtype.type
    lr, mu, damp, wd = t(lr), t(momentum), t(dampening), t(weight_decay)
    for i in range(p.size):
        d = g[i]
        if wd != 0:
            d = d + wd * p[i]
        if mu != 0:
            b[i] = d if first_step else (mu * b[i] + (t(1) - damp) * d if damp != 0 else mu * b[i] + d)
            d = d + mu * b[i] if nesterov else b[i]
        p[i] = p[i] - lr * d


# ---- convolution and pooling -----------------------------------------------------------------
def im2col(x, kh, kw, stride, pad, *, n_threads=None):
    """Unfold every (kh, kw) window of x (N, C, H, W) into a column.

    Returns
    -------
    cols : ndarray (C*kh*kw, N*OH*OW)
        Row ``(c*kh + i)*kw + j`` holds tap (c, i, j); column ``(n*OH + oh)*OW + ow`` holds the
        window of output pixel (oh, ow) of sample n. Zero padding reads as 0.
    """
    x, kh, kw, sh, sw, ph, pw, oh, ow = _args.im2col_args(x, kh, kw, stride, pad)
    n, c, h, w = x.shape
    cols = np.zeros((c * kh * kw, n * oh * ow), dtype=x.dtype)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                row = (ci * kh + i) * kw + j
                for ni in range(n):
                    for yo in range(oh):
                        for xo in range(ow):
                            yi, xi = yo * sh + i - ph, xo * sw + j - pw
                            if 0 <= yi < h and 0 <= xi < w:
                                cols[row, (ni * oh + yo) * ow + xo] = x[ni, ci, yi, xi]
    return cols


def col2im(cols, x_shape, kh, kw, stride, pad, *, n_threads=None):
    """Fold columns back onto an image, summing where windows overlap (adjoint of im2col)."""
    cols, x_shape, kh, kw, sh, sw, ph, pw, oh, ow = _args.col2im_args(cols, x_shape, kh, kw, stride, pad)
    n, c, h, w = x_shape
    dx = np.zeros(x_shape, dtype=cols.dtype)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                row = (ci * kh + i) * kw + j
                for ni in range(n):
                    for yo in range(oh):
                        for xo in range(ow):
                            yi, xi = yo * sh + i - ph, xo * sw + j - pw
                            if 0 <= yi < h and 0 <= xi < w:
                                dx[ni, ci, yi, xi] += cols[row, (ni * oh + yo) * ow + xo]
    return dx


def conv2d_forward(x, w, b, stride, pad, *, relu=False, bf16=False, n_threads=None):
    """y[n, o] = sum_{c,i,j} w[o, c, i, j] * xpad[n, c, oh*sh + i, ow*sw + j] + b[o]
    (then ReLU, ``0 if v <= 0 else v``, with ``relu=True``: the fused epilogue of Conv2d+ReLU).
    With ``bf16=True`` x and w are rounded to bfloat16 first, and the cache keeps them rounded.
    With a bf16 path's name (``"avx512_bf16"``, ...) the sum is that instruction's, as its GEMM
    computes it on the column matrix (``gemm(w2, im2col(x), bf16=path)`` + b): terms in (c, i, j)
    order, paired; the backward likewise (dx = col2im(W^T dY), dw = dY cols^T).

    Returns
    -------
    y : ndarray (N, OC, OH, OW)
    cache : what conv2d_backward of the same tier needs
    """
    x, w, b, sh, sw, ph, pw, oh, ow, relu = _args.conv2d_forward_args(x, w, b, stride, pad, relu)
    bf16 = _args.bf16_args(bf16, x.dtype, "conv2d_forward")
    if bf16 and _args.bf16_arithmetic(bf16) != "emulated":
        return _bf16_conv_forward(x, w, b, (sh, sw), (ph, pw), (oh, ow), relu, bf16)
    if bf16:
        x, w = round_bf16(x), round_bf16(w)
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    y = np.zeros((n, oc, oh, ow), dtype=x.dtype)
    for ni in range(n):
        for o in range(oc):
            for yo in range(oh):
                for xo in range(ow):
                    acc = b[o] if b is not None else 0.0
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                yi, xi = yo * sh + i - ph, xo * sw + j - pw
                                if 0 <= yi < h and 0 <= xi < wd:
                                    acc += w[o, ci, i, j] * x[ni, ci, yi, xi]
                    y[ni, o, yo, xo] = 0.0 if relu and acc <= 0 else acc
    return y, _args.ConvCache(x, w, b is not None, (sh, sw), (ph, pw), (oh, ow), bf16=bf16)


def conv2d_backward(dy, cache, *, input_grad=True, n_threads=None):
    """Gradients of conv2d_forward: ``(dx, dw, db)``; ``db`` is None without bias and ``dx`` is
    None with ``input_grad=False`` (the first layer of a network needs no input gradient)."""
    dy, cache, input_grad = _args.conv2d_backward_args(dy, cache, input_grad)
    x, w = cache.x, cache.w
    db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None  # from dy as it came: bias is no GEMM operand
    if cache.bf16 and _args.bf16_arithmetic(cache.bf16) != "emulated":
        dx, dw = _bf16_conv_backward(dy, cache, input_grad)
        return dx, dw, db
    if cache.bf16:
        dy = round_bf16(dy)
    (sh, sw), (ph, pw), (oh, ow) = cache.stride, cache.pad, cache.out_hw
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    dx = np.zeros_like(x) if input_grad else None
    dw = np.zeros_like(w)
    for ni in range(n):
        for o in range(oc):
            for yo in range(oh):
                for xo in range(ow):
                    g = dy[ni, o, yo, xo]
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                yi, xi = yo * sh + i - ph, xo * sw + j - pw
                                if 0 <= yi < h and 0 <= xi < wd:
                                    dw[o, ci, i, j] += g * x[ni, ci, yi, xi]
                                    if input_grad:
                                        dx[ni, ci, yi, xi] += g * w[o, ci, i, j]
    return dx, dw, db


def _bf16_conv_forward(x, w, b, stride, pad, out_hw, relu, path):
    """conv2d_forward in a bf16 path's arithmetic: the GEMM W (OC, C*KH*KW) x cols, + b, ReLU."""
    n, oc = x.shape[0], w.shape[0]
    cols = im2col(x, w.shape[2], w.shape[3], stride, pad)
    y2 = gemm(w.reshape(oc, -1), cols, bias=None, bf16=path)  # (OC, N*OH*OW)
    y = np.zeros((n, oc) + out_hw, dtype=x.dtype)
    for ni in range(n):
        for o in range(oc):
            for yo in range(out_hw[0]):
                for xo in range(out_hw[1]):
                    v = y2[o, (ni * out_hw[0] + yo) * out_hw[1] + xo]
                    v = np.float32(v + b[o]) if b is not None else v
                    y[ni, o, yo, xo] = 0.0 if relu and v <= 0 else v
    return y, _args.ConvCache(x, w, b is not None, stride, pad, out_hw, bf16=path)


def _bf16_conv_backward(dy, cache, input_grad):
    """dx = col2im(W^T dY) and dw = dY cols^T in a bf16 path's arithmetic."""
    w = cache.w
    oc = w.shape[0]
    dy2 = np.ascontiguousarray(dy.transpose(1, 0, 2, 3).reshape(oc, -1))
    cols = im2col(cache.x, w.shape[2], w.shape[3], cache.stride, cache.pad)
    dw = gemm(dy2, cols, trans_b=True, bf16=cache.bf16).reshape(w.shape)
    dx = None
    if input_grad:
        dcols = gemm(w.reshape(oc, -1), dy2, trans_a=True, bf16=cache.bf16)
        dx = col2im(dcols, cache.x.shape, w.shape[2], w.shape[3], cache.stride, cache.pad)
    return dx, dw


def maxpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Max over each (k, k) window; ``argmax`` is the flat index (row*W + col) of the winner
    inside its (H, W) plane, the first maximum on ties; a NaN wins, as in torch.

    Returns
    -------
    y : ndarray (N, C, OH, OW)
    argmax : ndarray of int64, like y
    """
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "maxpool2d_forward")
    n, c, h, w = x.shape
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    arg = np.empty((n, c, oh, ow), dtype=np.int64)
    for ni in range(n):
        for ci in range(c):
            for yo in range(oh):
                for xo in range(ow):
                    best, where = -math.inf, yo * sh * w + xo * sw
                    for i in range(kh):
                        for j in range(kw):
                            v = x[ni, ci, yo * sh + i, xo * sw + j]
                            if v > best or math.isnan(v):
                                best, where = v, (yo * sh + i) * w + xo * sw + j
                    y[ni, ci, yo, xo], arg[ni, ci, yo, xo] = best, where
    return y, arg


def maxpool2d_backward(dy, argmax, x_shape, *, n_threads=None):
    """Route each dy to its window's argmax (summing where windows overlap)."""
    dy, argmax, x_shape = _args.maxpool_backward_args(dy, argmax, x_shape)
    n, c, h, w = x_shape
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for ni in range(n):
        for ci in range(c):
            for yo in range(dy.shape[2]):
                for xo in range(dy.shape[3]):
                    a = int(argmax[ni, ci, yo, xo])
                    dx[ni, ci, a // w, a % w] += dy[ni, ci, yo, xo]
    return dx


def avgpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Mean over each (k, k) window (no padding)."""
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "avgpool2d_forward")
    n, c = x.shape[:2]
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    for ni in range(n):
        for ci in range(c):
            for yo in range(oh):
                for xo in range(ow):
                    acc = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            acc += x[ni, ci, yo * sh + i, xo * sw + j]
                    y[ni, ci, yo, xo] = acc / (kh * kw)
    return y


def avgpool2d_backward(dy, x_shape, k, stride=None, *, n_threads=None):
    """Spread each dy evenly over its window (summing where windows overlap)."""
    dy, x_shape, kh, kw, sh, sw, oh, ow = _args.pool_backward_args(dy, x_shape, k, stride,
                                                                   "avgpool2d_backward")
    n, c = x_shape[:2]
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for ni in range(n):
        for ci in range(c):
            for yo in range(oh):
                for xo in range(ow):
                    g = dy[ni, ci, yo, xo] / (kh * kw)
                    for i in range(kh):
                        for j in range(kw):
                            dx[ni, ci, yo * sh + i, xo * sw + j] += g
    return dx


# ---- smooth activations --------------------------------------------------------------------
def _map(f, *arrays):
    out = np.empty_like(arrays[0])
    flat = [a.reshape(-1) for a in arrays]
    o = out.reshape(-1)
    for i in range(o.size):
        o[i] = f(*(a[i] for a in flat))
    return out


def sigmoid_forward(x, *, n_threads=None):
    """y = 1 / (1 + exp(-x)), computed stably from exp(-|x|)."""
    x = _args.unary_args(x, "sigmoid_forward")

    def f(v):
        e = math.exp(-abs(v)) if not math.isnan(v) else math.nan
        return 1 / (1 + e) if v >= 0 else e / (1 + e)
    return _map(f, x)


def sigmoid_backward(dy, y, *, n_threads=None):
    """dx = dy * y * (1 - y) from the saved output y."""
    dy, y = _args.unary_backward_args(dy, (y,), "sigmoid_backward")
    return _map(lambda g, s: g * s * (1 - s), dy, y)


def tanh_forward(x, *, n_threads=None):
    """y = tanh(x)."""
    return _map(math.tanh, _args.unary_args(x, "tanh_forward"))


def tanh_backward(dy, y, *, n_threads=None):
    """dx = dy * (1 - y^2) from the saved output y."""
    dy, y = _args.unary_backward_args(dy, (y,), "tanh_backward")
    return _map(lambda g, t: g * (1 - t * t), dy, y)


def elu_forward(x, alpha=1.0, *, n_threads=None):
    """y = x if x > 0 else alpha * (exp(x) - 1) (expm1: accurate near 0)."""
    x = _args.unary_args(x, "elu_forward", alpha=alpha)
    return _map(lambda v: v if v > 0 else alpha * math.expm1(v), x)


def elu_backward(dy, x, y, alpha=1.0, *, n_threads=None):
    """dx = dy if x > 0 else dy * (y + alpha)."""
    dy, x, y = _args.unary_backward_args(dy, (x, y), "elu_backward", ("x", "y"), alpha=alpha)
    return _map(lambda g, v, o: g if v > 0 else g * (o + alpha), dy, x, y)


def leaky_relu_forward(x, negative_slope=0.01, *, n_threads=None):
    """y = x if x > 0 else negative_slope * x."""
    x = _args.unary_args(x, "leaky_relu_forward", negative_slope=negative_slope)
    return _map(lambda v: v if v > 0 else v * negative_slope, x)


def leaky_relu_backward(dy, x, negative_slope=0.01, *, n_threads=None):
    """dx = dy if x > 0 else negative_slope * dy."""
    dy, x = _args.unary_backward_args(dy, (x,), "leaky_relu_backward", ("x",), negative_slope=negative_slope)
    return _map(lambda g, v: g if v > 0 else g * negative_slope, dy, x)


def batchnorm_forward(x, gamma, beta, eps=1e-5, *, n_threads=None):
    """Training-mode batch norm over axis 1 of x (N, C, ...).

    Returns
    -------
    y, xhat : ndarrays like x (``y = gamma * xhat + beta``)
    mean, var : ndarrays (C,) float64 (batch mean, biased batch variance)
    invstd : ndarray (C,) of x's dtype, ``1 / sqrt(var + eps)``
    """
    x3, gamma, beta, eps = _args.batchnorm_args(x, gamma, beta, eps)
    n, c, s = x3.shape
    xhat = np.empty_like(x3)
    y = np.empty_like(x3)
    mean, var = np.zeros(c), np.zeros(c)
    invstd = np.empty(c, dtype=x3.dtype)
    for ch in range(c):
        vals = [float(x3[i, ch, j]) for i in range(n) for j in range(s)]
        m = sum(vals) / len(vals)
        v = sum((u - m) ** 2 for u in vals) / len(vals)
        mean[ch], var[ch] = m, v
        invstd[ch] = 1 / math.sqrt(v + eps)
        for i in range(n):
            for j in range(s):
                xhat[i, ch, j] = (x3[i, ch, j] - m) * invstd[ch]
                y[i, ch, j] = xhat[i, ch, j] * gamma[ch] + beta[ch]
    return y.reshape(x.shape), xhat.reshape(x.shape), mean, var, invstd


def normalize_forward(x, mean, std, *, n_threads=None):
    """y = (x - mean) / std per channel (axis 1 of x (N, C, ...)); ``mean`` and ``std`` hold one
    value per channel, or one for all."""
    x3, mean, std = _args.normalize_args(x, mean, std, "normalize_forward")
    n, c, s = x3.shape
    y = np.empty_like(x3)
    for i in range(n):
        for ch in range(c):
            for j in range(s):
                y[i, ch, j] = (x3[i, ch, j] - mean[ch]) / std[ch]
    return y.reshape(x.shape)


def normalize_backward(dy, std, *, n_threads=None):
    """dx = dy / std per channel: the gradient of normalize_forward (mean is a constant)."""
    dy3, std = _args.normalize_args(dy, None, std, "normalize_backward")
    n, c, s = dy3.shape
    dx = np.empty_like(dy3)
    for i in range(n):
        for ch in range(c):
            for j in range(s):
                dx[i, ch, j] = dy3[i, ch, j] / std[ch]
    return dx.reshape(dy.shape)


def batchnorm_apply(x, mean, invstd, gamma, beta, *, n_threads=None):
    """Batch norm with given per-channel statistics (eval mode: the running ones):
    ``xhat = (x - mean) * invstd``, ``y = xhat * gamma + beta``; returns ``(y, xhat)``."""
    x3, mean, invstd, gamma, beta = _args.batchnorm_apply_args(x, mean, invstd, gamma, beta)
    n, c, s = x3.shape
    xhat, y = np.empty_like(x3), np.empty_like(x3)
    for i in range(n):
        for ch in range(c):
            for j in range(s):
                xhat[i, ch, j] = (x3[i, ch, j] - mean[ch]) * invstd[ch]
                y[i, ch, j] = xhat[i, ch, j] * gamma[ch] + beta[ch]
    return y.reshape(x.shape), xhat.reshape(x.shape)


def batchnorm_backward(dy, xhat, invstd, gamma, *, n_threads=None):
    """Gradients of batchnorm_forward: ``(dx, dgamma, dbeta)`` from the saved xhat and invstd."""
    dy3, xhat3, invstd, gamma = _args.batchnorm_backward_args(dy, xhat, invstd, gamma)
    n, c, s = dy3.shape
    dx = np.empty_like(dy3)
    dgamma, dbeta = np.empty(c, dy3.dtype), np.empty(c, dy3.dtype)
    cnt = n * s
    for ch in range(c):
        s1 = sum(float(dy3[i, ch, j]) for i in range(n) for j in range(s))
        s2 = sum(float(dy3[i, ch, j]) * float(xhat3[i, ch, j]) for i in range(n) for j in range(s))
        dbeta[ch], dgamma[ch] = s1, s2
        k = float(gamma[ch]) * float(invstd[ch]) / cnt
        for i in range(n):
            for j in range(s):
                dx[i, ch, j] = k * (cnt * dy3[i, ch, j] - s1 - xhat3[i, ch, j] * s2)
    return dx.reshape(dy.shape), dgamma, dbeta


def adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
                decoupled=False, *, n_threads=None):
    """One torch Adam (or, with ``decoupled``, AdamW) step, **in place** on the parameter and
    both moment buffers; ``step`` counts from 1. Per element, in torch's order::

        p = p * (1 - lr * wd)  (decoupled)   |   g = g + wd * p  (coupled)
        m = m + (g - m) * (1 - beta1);  v = v * beta2 + (1 - beta2) * g^2
        p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
    """
    _args.adam_update_args(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step)
    t = param.dtype.type
    step_size = t(lr / (1 - beta1 ** step))
    inv_sqrt_bc2 = t(1 / math.sqrt(1 - beta2 ** step))
    p, g, m, v = (a.reshape(-1) for a in (param, grad, exp_avg, exp_avg_sq))
    lr, b1, b2, eps, wd = t(lr), t(beta1), t(beta2), t(eps), t(weight_decay)
    for i in range(p.size):
        d, pi = g[i], p[i]
        if wd != 0:
            if decoupled:
                pi = pi * (t(1) - lr * wd)
            else:
                d = d + wd * pi
        m[i] = m[i] + (d - m[i]) * (t(1) - b1)
        v[i] = v[i] * b2 + (t(1) - b2) * d * d
        p[i] = pi - step_size * (m[i] / (t(math.sqrt(v[i])) * inv_sqrt_bc2 + eps))


def adagrad_update(param, grad, state_sum, lr, eps, weight_decay, *, n_threads=None):
    """One torch Adagrad step, **in place** on the parameter and ``state_sum``; ``lr`` is this
    step's (already divided by ``1 + (step - 1) * lr_decay``). Per element, in torch's order::

        g = g + wd * p;  s = s + g * g;  p = p - lr * (g / (sqrt(s) + eps))
    """
    _args.adagrad_update_args(param, grad, state_sum, lr, eps, weight_decay)
    t = param.dtype.type
    p, g, s = (a.reshape(-1) for a in (param, grad, state_sum))
    lr, eps, wd = t(lr), t(eps), t(weight_decay)
    for i in range(p.size):
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        s[i] = s[i] + d * d
        p[i] = p[i] - lr * (d / (t(math.sqrt(s[i])) + eps))


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                   momentum, *, n_threads=None):
    """One torch RMSprop step, **in place**; ``grad_avg`` is given (centered) or None, and
    ``momentum_buffer`` is needed when ``momentum > 0``. Per element, in torch's order::

        g = g + wd * p;  v = v * alpha + (1 - alpha) * g * g
        a = sqrt(v - m * m) + eps, m = m + (g - m) * (1 - alpha)   (centered)  |  a = sqrt(v) + eps
        b = b * momentum + g / a;  p = p - lr * b   (momentum > 0)  |  p = p - lr * (g / a)
    """
    _args.rmsprop_update_args(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                              weight_decay, momentum)
    t = param.dtype.type
    p, g, v = (a.reshape(-1) for a in (param, grad, square_avg))
    m = grad_avg.reshape(-1) if grad_avg is not None else None
    b = momentum_buffer.reshape(-1) if momentum > 0 else None
    lr, alpha, eps, wd, mu = t(lr), t(alpha), t(eps), t(weight_decay), t(momentum)
    for i in range(p.size):
        d = g[i] + wd * p[i] if wd != 0 else g[i]
        v[i] = v[i] * alpha + (t(1) - alpha) * d * d
        if m is not None:
            m[i] = m[i] + (d - m[i]) * (t(1) - alpha)
            a = t(math.sqrt(v[i] - m[i] * m[i])) + eps
        else:
            a = t(math.sqrt(v[i])) + eps
        if b is not None:
            b[i] = b[i] * mu + d / a
            p[i] = p[i] - lr * b[i]
        else:
            p[i] = p[i] - lr * (d / a)
