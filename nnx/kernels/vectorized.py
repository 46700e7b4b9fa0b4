"""NumPy tier: whole-array expressions, the form most NumPy users would write.

Same names and signatures as ``loops`` and ``compiled``; ``n_threads`` is accepted and ignored
(NumPy's BLAS follows ``nnx.set_num_threads`` through threadpoolctl).
"""
import numpy as np

from . import _args
from .contract import KERNELS

__all__ = list(KERNELS)


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, bias=None, relu=False, bf16=False,
         n_threads=None):
    """C := op(A) op(B) + beta C [+ bias] [then ReLU] (NumPy matmul, i.e. its BLAS; with
    ``bf16=True`` on the bf16-rounded operands, whose products float32 holds exactly; with a
    path name, that instruction's arithmetic, below).

    See ``nnx.kernels.loops.gemm`` for the parameters.
    """
    a, b, m, n, k, out, beta = _args.gemm_args(a, b, trans_a, trans_b, out, beta)
    bias, relu = _args.gemm_epilogue_args(bias, relu, n, a.dtype)
    bf16 = _args.bf16_args(bf16, a.dtype, "gemm")
    if bf16 and _args.bf16_arithmetic(bf16) != "emulated":
        return _bf16_chain_gemm(a.T if trans_a else a, b.T if trans_b else b, out, beta, bias, relu,
                                _args.bf16_arithmetic(bf16))
    if bf16:
        a, b = round_bf16(a), round_bf16(b)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    if out is None:
        c = np.matmul(opa, opb)
    elif beta == 0.0:
        c = np.matmul(opa, opb, out=out)
    else:
        prod = np.matmul(opa, opb)
        if beta != 1.0:
            out *= out.dtype.type(beta)
        out += prod
        c = out
    if bias is not None:
        c += bias
    if relu:
        np.maximum(c, c.dtype.type(0), out=c)
    return c


def round_bf16(x, *, n_threads=None):
    """x rounded to bfloat16, kept in float32, on the bits (see ``loops.round_bf16``); uint32
    arithmetic cannot wrap here: the largest non-NaN pattern is -inf, 0xff800000."""
    x = _args.round_bf16_args(x)
    u = x.view(np.uint32)
    rounded = (u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    if nan.any():
        rounded[nan] = (u[nan] | np.uint32(0x00400000)) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


# ---- the arithmetic of the bf16 instructions (nnx_bf16ops.h), on whole arrays -----------------
_U = np.uint32


def _daz(x):
    """A denormal float32 reads as a zero of its sign."""
    u = x.view(_U)
    return np.where((u & _U(0x7F800000)) == 0, u & _U(0x80000000), u).view(np.float32)


def _ftz_round(s):
    """float64 -> float32, nearest even, a result tiny after rounding (unbounded exponent) flushed
    to a zero of its sign: the value scaled by 2^64 into float32's normal range decides."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (s * 2.0 ** 64).astype(np.float32)
        tiny = np.where(np.abs(scaled) < np.float32(2.0 ** -62), np.copysign(np.float32(0), scaled),
                        scaled * np.float32(2.0 ** -64))
        return np.where(np.abs(s) < 2.0 ** -100, tiny, s.astype(np.float32))


def _first_nan(out, *operands):
    """Where an operand is NaN, the first such operand, quieted (x86's NaN rule)."""
    for x in reversed(operands):
        out = np.where(np.isnan(x), (x.view(_U) | _U(0x400000)).view(np.float32), out)
    return out


def _bf16_fma(a, b, c):
    """fma(a, b, c) of vdpbf16ps / tdpbf16ps: DAZ inputs, one rounding (the product of two bf16
    values is exact in float64, and rounding float64 then float32 is a single rounding here:
    Figueroa's 2p + 2 bound), FTZ result."""
    a, b, c = np.broadcast_arrays(a, b, c)
    with np.errstate(over="ignore", invalid="ignore"):
        s = _daz(a).astype(np.float64) * _daz(b).astype(np.float64) + _daz(c).astype(np.float64)
    return _first_nan(_ftz_round(s), a, b, c)


def _bf16_add(a, b):
    """a + b of tdpbf16ps's last steps: DAZ inputs, FTZ result."""
    with np.errstate(over="ignore", invalid="ignore"):
        s = _daz(a).astype(np.float64) + _daz(b).astype(np.float64)
    return _first_nan(_ftz_round(s), a, b)


def _bf16_chain_gemm(opa, opb, out, beta, bias, relu, arithmetic):
    """C := op(A) op(B) (+ beta C) [+ bias] [ReLU] as the compiled bf16 kernels compute it: one
    accumulator per element, started at beta C, carried over K's pairs in order ("dp": per pair
    acc = fma(a_even, b_even, fma(a_odd, b_odd, acc)); "amx": per 16 pairs, e and o summed from 0
    over the even and odd halves, acc = acc + (e + o)); K padded with zeros to 2 (dp) or 32 (amx)
    elements; then bias and ReLU in float32."""
    m, n = opa.shape[0], opb.shape[1]
    mult = 2 if arithmetic == "dp" else 32
    kp = -(-opa.shape[1] // mult) * mult
    a = np.pad(round_bf16(np.ascontiguousarray(opa)), ((0, 0), (0, kp - opa.shape[1])))
    b = np.pad(round_bf16(np.ascontiguousarray(opb)), ((0, kp - opb.shape[0]), (0, 0)))
    if beta == 0.0:
        acc = np.zeros((m, n), np.float32)
    else:
        acc = out.copy() if beta == 1.0 else out * np.float32(beta)
    if arithmetic == "dp":
        for p in range(0, kp, 2):
            acc = _bf16_fma(a[:, p, None], b[None, p], _bf16_fma(a[:, p + 1, None], b[None, p + 1], acc))
    else:
        for k0 in range(0, kp, 32):
            e = o = np.zeros((m, n), np.float32)
            for p in range(k0, k0 + 32, 2):
                e = _bf16_fma(a[:, p, None], b[None, p], e)
                o = _bf16_fma(a[:, p + 1, None], b[None, p + 1], o)
            acc = _bf16_add(acc, _bf16_add(e, o))
    if bias is not None:
        acc = acc + bias
    if relu:
        acc = np.where(acc <= 0, np.float32(0), acc)
    if out is None:
        return acc
    out[...] = acc
    return out


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) (NaN passes through), mask = x > 0."""
    x = _args.relu_forward_args(x)
    mask = x > 0
    y = np.maximum(x, x.dtype.type(0))
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else exact 0."""
    dy, mask = _args.relu_backward_args(dy, mask)
    return np.where(mask, dy, dy.dtype.type(0))


def _shifted(x):
    m = x.max(axis=1, keepdims=True)
    return x - m


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array."""
    x = _args.rows_args(x, "softmax")
    e = np.exp(_shifted(x))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array."""
    x = _args.rows_args(x, "log_softmax")
    z = _shifted(x)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Mean cross-entropy and ``(softmax(logits) - onehot(labels)) / N``, composed from NumPy ops."""
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    n = logits.shape[0]
    rows = np.arange(n)
    logp = log_softmax(logits)
    loss = -float(logp[rows, labels].astype(np.float64).mean())
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One SGD step in place, as NumPy statements; see ``nnx.kernels.loops.sgd_update``."""
    _args.sgd_update_args(param, grad, momentum_buffer, momentum, lr, dampening, weight_decay)
    t = param.dtype.type
    d = grad + t(weight_decay) * param if weight_decay != 0 else grad
    if momentum != 0:
        buf = momentum_buffer
        if first_step:
            buf[...] = d
        else:
            buf *= t(momentum)
            buf += t(1 - dampening) * d if dampening != 0 else d
        d = d + t(momentum) * buf if nesterov else buf
    param -= t(lr) * d


# ---- convolution and pooling -----------------------------------------------------------------
def _windows(xp, kh, kw, sh, sw, oh, ow):
    """A view (N, C, kh, kw, OH, OW) of every window of the padded input (no copy)."""
    n, c = xp.shape[:2]
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, c, kh, kw, oh, ow),
        strides=(s[0], s[1], s[2], s[3], s[2] * sh, s[3] * sw), writeable=False)


def _pad(x, ph, pw):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x


def im2col(x, kh, kw, stride, pad, *, n_threads=None):
    """Unfold windows into columns (C*kh*kw, N*OH*OW) with one strided view and one copy.

    See ``nnx.kernels.loops.im2col`` for the layout.
    """
    x, kh, kw, sh, sw, ph, pw, oh, ow = _args.im2col_args(x, kh, kw, stride, pad)
    n, c = x.shape[:2]
    win = _windows(_pad(x, ph, pw), kh, kw, sh, sw, oh, ow)  # (N, C, kh, kw, OH, OW)
    return np.ascontiguousarray(win.transpose(1, 2, 3, 0, 4, 5)).reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_shape, kh, kw, stride, pad, *, n_threads=None):
    """Fold columns back, summing overlaps: one strided add per kernel tap (kh*kw adds)."""
    cols, x_shape, kh, kw, sh, sw, ph, pw, oh, ow = _args.col2im_args(cols, x_shape, kh, kw, stride, pad)
    n, c, h, w = x_shape
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    taps = cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)  # (N, C, kh, kw, OH, OW)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += taps[:, :, i, j]
    return dxp[:, :, ph:ph + h, pw:pw + w].copy() if ph or pw else dxp


def conv2d_forward(x, w, b, stride, pad, *, relu=False, bf16=False, n_threads=None):
    """Convolution as im2col + one GEMM (cs231n's fast layer); caches the columns.
    ``relu=True`` applies ReLU to the result, ``bf16=True`` rounds x and w to bfloat16 first, a
    bf16 path's name multiplies in its instruction's arithmetic (see ``loops.conv2d_forward``)."""
    x, w, b, sh, sw, ph, pw, oh, ow, relu = _args.conv2d_forward_args(x, w, b, stride, pad, relu)
    bf16 = _args.bf16_args(bf16, x.dtype, "conv2d_forward")
    if bf16 and _args.bf16_arithmetic(bf16) == "emulated":
        x, w = round_bf16(x), round_bf16(w)
    n = x.shape[0]
    oc, c, kh, kw = w.shape
    cols = im2col(x, kh, kw, (sh, sw), (ph, pw))
    y = _matmul(w.reshape(oc, -1), cols, bf16).reshape(oc, n, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        y = y + b.reshape(1, oc, 1, 1)
    y = np.ascontiguousarray(y)
    if relu:
        np.maximum(y, y.dtype.type(0), out=y)
    return (y,
            _args.ConvCache(x, w, b is not None, (sh, sw), (ph, pw), (oh, ow), cols, bf16))


def conv2d_backward(dy, cache, *, input_grad=True, n_threads=None):
    """``(dx, dw, db)`` from the cached columns: dw = dY cols^T, dx = col2im(W^T dY)."""
    dy, cache, input_grad = _args.conv2d_backward_args(dy, cache, input_grad)
    w = cache.w
    oc = w.shape[0]
    db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None  # from dy as it came: bias is no GEMM operand
    if cache.bf16 and _args.bf16_arithmetic(cache.bf16) == "emulated":
        dy = round_bf16(dy)
    dy2 = dy.transpose(1, 0, 2, 3).reshape(oc, -1)  # (OC, N*OH*OW)
    dw = _matmul(dy2, cache.cols.T, cache.bf16).reshape(w.shape)
    dx = None
    if input_grad:
        dx = col2im(_matmul(w.reshape(oc, -1).T, dy2, cache.bf16), cache.x.shape, w.shape[2], w.shape[3],
                    cache.stride, cache.pad)
    return dx, dw, db


def _matmul(a, b, bf16):
    """a @ b; with a bf16 path's name, in that instruction's arithmetic (``_bf16_chain_gemm``)."""
    if bf16 and _args.bf16_arithmetic(bf16) != "emulated":
        return _bf16_chain_gemm(a, b, None, 0.0, None, False, _args.bf16_arithmetic(bf16))
    return a @ b


def maxpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Max over windows via a strided view; argmax as flat (H*W) plane indices, first on ties."""
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "maxpool2d_forward")
    w = x.shape[3]
    win = _windows(x, kh, kw, sh, sw, oh, ow)  # (N, C, kh, kw, OH, OW)
    flat = win.reshape(*x.shape[:2], kh * kw, oh, ow)
    # As torch (and the other tiers, which scan with `v > best or isnan(v)`): the first maximum,
    # but a NaN wins, and of several NaNs the last one scanned.
    nan = np.isnan(flat)
    last_nan = kh * kw - 1 - nan[:, :, ::-1].argmax(axis=2)
    k_best = np.where(nan.any(axis=2), last_nan, flat.argmax(axis=2))
    y = np.take_along_axis(flat, k_best[:, :, None], axis=2)[:, :, 0]
    i, j = np.divmod(k_best, kw)
    rows = np.arange(oh).reshape(oh, 1) * sh + i
    colsx = np.arange(ow).reshape(1, ow) * sw + j
    return np.ascontiguousarray(y), (rows * w + colsx).astype(np.int64)


def maxpool2d_backward(dy, argmax, x_shape, *, n_threads=None):
    """Scatter-add dy onto the argmax positions (np.add.at handles overlapping windows)."""
    dy, argmax, x_shape = _args.maxpool_backward_args(dy, argmax, x_shape)
    n, c, h, w = x_shape
    dx = np.zeros((n * c, h * w), dtype=dy.dtype)
    planes = np.repeat(np.arange(n * c), argmax[0, 0].size) if argmax.size else np.zeros(0, int)
    np.add.at(dx, (planes, argmax.reshape(-1)), dy.reshape(-1))
    return dx.reshape(x_shape)


def avgpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Mean over windows via a strided view."""
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "avgpool2d_forward")
    return _windows(x, kh, kw, sh, sw, oh, ow).mean(axis=(2, 3)).astype(x.dtype, copy=False)


def avgpool2d_backward(dy, x_shape, k, stride=None, *, n_threads=None):
    """Spread dy / (kh*kw) over each window: one strided add per tap."""
    dy, x_shape, kh, kw, sh, sw, oh, ow = _args.pool_backward_args(dy, x_shape, k, stride,
                                                                   "avgpool2d_backward")
    dx = np.zeros(x_shape, dtype=dy.dtype)
    g = dy / dy.dtype.type(kh * kw)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += g
    return dx


# ---- smooth activations --------------------------------------------------------------------
def sigmoid_forward(x, *, n_threads=None):
    """y = 1 / (1 + exp(-x)), stable: both branches from exp(-|x|)."""
    x = _args.unary_args(x, "sigmoid_forward")
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(dy, y, *, n_threads=None):
    """dx = dy * y * (1 - y)."""
    dy, y = _args.unary_backward_args(dy, (y,), "sigmoid_backward")
    return dy * y * (1 - y)


def tanh_forward(x, *, n_threads=None):
    """y = tanh(x)."""
    return np.tanh(_args.unary_args(x, "tanh_forward"))


def tanh_backward(dy, y, *, n_threads=None):
    """dx = dy * (1 - y^2)."""
    dy, y = _args.unary_backward_args(dy, (y,), "tanh_backward")
    return dy * (1 - y * y)


def elu_forward(x, alpha=1.0, *, n_threads=None):
    """y = x if x > 0 else alpha * expm1(x)."""
    x = _args.unary_args(x, "elu_forward", alpha=alpha)
    return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))


def elu_backward(dy, x, y, alpha=1.0, *, n_threads=None):
    """dx = dy if x > 0 else dy * (y + alpha)."""
    dy, x, y = _args.unary_backward_args(dy, (x, y), "elu_backward", ("x", "y"), alpha=alpha)
    return np.where(x > 0, dy, dy * (y + dy.dtype.type(alpha)))


def leaky_relu_forward(x, negative_slope=0.01, *, n_threads=None):
    """y = x if x > 0 else negative_slope * x."""
    x = _args.unary_args(x, "leaky_relu_forward", negative_slope=negative_slope)
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(dy, x, negative_slope=0.01, *, n_threads=None):
    """dx = dy if x > 0 else negative_slope * dy."""
    dy, x = _args.unary_backward_args(dy, (x,), "leaky_relu_backward", ("x",), negative_slope=negative_slope)
    return np.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


def batchnorm_forward(x, gamma, beta, eps=1e-5, *, n_threads=None):
    """Training-mode batch norm, as NumPy reductions; see ``nnx.kernels.loops.batchnorm_forward``."""
    x3, gamma, beta, eps = _args.batchnorm_args(x, gamma, beta, eps)
    mean = x3.mean(axis=(0, 2), dtype=np.float64)
    var = ((x3 - mean[None, :, None]) ** 2).mean(axis=(0, 2), dtype=np.float64)
    invstd = (1 / np.sqrt(var + eps)).astype(x3.dtype)
    xhat = (x3 - mean[None, :, None].astype(x3.dtype)) * invstd[None, :, None]
    y = xhat * gamma[None, :, None] + beta[None, :, None]
    return y.reshape(x.shape), xhat.reshape(x.shape), mean, var, invstd


def normalize_forward(x, mean, std, *, n_threads=None):
    """(x - mean) / std broadcast over the channel axis; see ``loops.normalize_forward``."""
    x3, mean, std = _args.normalize_args(x, mean, std, "normalize_forward")
    return ((x3 - mean[None, :, None]) / std[None, :, None]).reshape(x.shape)


def normalize_backward(dy, std, *, n_threads=None):
    """dy / std per channel; see ``loops.normalize_backward``."""
    dy3, std = _args.normalize_args(dy, None, std, "normalize_backward")
    return (dy3 / std[None, :, None]).reshape(dy.shape)


def batchnorm_apply(x, mean, invstd, gamma, beta, *, n_threads=None):
    """Batch norm with given statistics, broadcast over the channel axis; see ``loops.batchnorm_apply``."""
    x3, mean, invstd, gamma, beta = _args.batchnorm_apply_args(x, mean, invstd, gamma, beta)
    xhat = (x3 - mean[None, :, None]) * invstd[None, :, None]
    y = xhat * gamma[None, :, None] + beta[None, :, None]
    return y.reshape(x.shape), xhat.reshape(x.shape)


def batchnorm_backward(dy, xhat, invstd, gamma, *, n_threads=None):
    """Gradients of batchnorm_forward: ``(dx, dgamma, dbeta)`` from the saved xhat and invstd."""
    dy3, xhat3, invstd, gamma = _args.batchnorm_backward_args(dy, xhat, invstd, gamma)
    cnt = dy3.shape[0] * dy3.shape[2]
    dbeta = dy3.sum(axis=(0, 2))
    dgamma = (dy3 * xhat3).sum(axis=(0, 2))
    k = (gamma * invstd / dy3.dtype.type(cnt))[None, :, None]
    dx = k * (dy3.dtype.type(cnt) * dy3 - dbeta[None, :, None] - xhat3 * dgamma[None, :, None])
    return dx.reshape(dy.shape), dgamma, dbeta


def adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
                decoupled=False, *, n_threads=None):
    """One Adam/AdamW step in place, as NumPy statements; see ``nnx.kernels.loops.adam_update``."""
    _args.adam_update_args(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step)
    t = param.dtype.type
    g = grad
    if weight_decay != 0:
        if decoupled:
            param *= t(1 - lr * weight_decay)
        else:
            g = grad + t(weight_decay) * param
    exp_avg += (g - exp_avg) * t(1 - beta1)
    exp_avg_sq *= t(beta2)
    exp_avg_sq += t(1 - beta2) * g * g
    denom = np.sqrt(exp_avg_sq) * t(1 / np.sqrt(1 - beta2 ** step)) + t(eps)
    param -= t(lr / (1 - beta1 ** step)) * (exp_avg / denom)


def adagrad_update(param, grad, state_sum, lr, eps, weight_decay, *, n_threads=None):
    """One Adagrad step in place, as NumPy statements; see ``nnx.kernels.loops.adagrad_update``."""
    _args.adagrad_update_args(param, grad, state_sum, lr, eps, weight_decay)
    t = param.dtype.type
    g = grad + t(weight_decay) * param if weight_decay != 0 else grad
    state_sum += g * g
    param -= t(lr) * (g / (np.sqrt(state_sum) + t(eps)))


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                   momentum, *, n_threads=None):
    """One RMSprop step in place, as NumPy statements; see ``nnx.kernels.loops.rmsprop_update``."""
    _args.rmsprop_update_args(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                              weight_decay, momentum)
    t = param.dtype.type
    g = grad + t(weight_decay) * param if weight_decay != 0 else grad
    square_avg *= t(alpha)
    square_avg += t(1 - alpha) * g * g
    if grad_avg is not None:
        grad_avg += (g - grad_avg) * t(1 - alpha)  # torch: grad_avg.lerp_(grad, 1 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + t(eps)
    else:
        avg = np.sqrt(square_avg) + t(eps)
    if momentum > 0:
        momentum_buffer *= t(momentum)
        momentum_buffer += g / avg
        param -= t(lr) * momentum_buffer
    else:
        param -= t(lr) * (g / avg)
