"""Compiled tier: the Cython kernels under the common names.

Each wrapper validates (the same checks as the other tiers), makes inputs C-contiguous once,
allocates the outputs and hands raw buffers to ``nogil`` code. Tiny problems run on one thread:
waking an OpenMP team costs microseconds, and libgomp's spin-waiting threads compete with
NumPy's BLAS threads for the same two cores.

Importing this package decides the CPU level (``nnx.kernels.cpu``: the CPU's own level, or the
``NNX_CPU_LEVEL`` cap) and sets it in every extension module before any kernel can run; each
kernel family then runs the code of that level (``include/nnx_clones.h``).
"""

import numpy as np

from ... import precision
from ..._config import resolve_threads
from .. import _args, cpu
from . import _cpu

LEVEL = cpu.register(_cpu.detect())  # a bad NNX_CPU_LEVEL stops the import here, naming it

from .. import vectorized as _vectorized  # noqa: E402
from ..contract import KERNELS  # noqa: E402
from . import _activations, _bf16, _conv, _gemm, _losses, _norm, _optim, _pool  # noqa: E402

_MODULES = (_activations, _bf16, _conv, _gemm, _losses, _norm, _optim, _pool)
for _m in _MODULES:
    _m.set_level(LEVEL)

__all__ = list(KERNELS)


def variants():
    """``{kernel family: the code it runs at the level in force}``, for show_config."""
    out = {}
    for m in _MODULES:
        out.update(m.variants())
    return out


def bf16_paths_built():
    """The bf16 paths this build has kernels for (a native one still needs its CPU level)."""
    return tuple(name for i, name in enumerate(_gemm.BF16_PATHS) if _gemm.bf16_path_built(i))


def build_info():
    """What this compiled tier was built with and runs: ``{"openmp": bool, "flags": str,
    "max_threads": int (OpenMP's default team), "gemm": the blocked GEMM's kernel and blocking,
    "variants": variants(), "level": the CPU level in force}``."""
    from . import _openmp

    return {"openmp": _openmp.openmp_enabled(), "flags": _openmp.build_flags(),
            "max_threads": _openmp.omp_max_threads(), "gemm": _gemm.kernel_info(), "variants": variants(),
            "level": cpu.LEVELS[LEVEL]}

# Below these sizes a kernel runs on one thread (measured on 2 cores: the fork/join costs more
# than the work saves). Elementwise: elements; row-wise: N * C.
PARALLEL_MIN_ELEMENTS = 1 << 18
PARALLEL_MIN_ROW_ELEMENTS = 1 << 14
# Elementwise work with an exp, a square root or a division per element (Adam, Adagrad,
# RMSprop, sigmoid, tanh, ELU; ~0.5 ns an element on one AVX2 core) is bound by arithmetic, not
# memory: two threads already pay at 32k elements (Adam 21.7 -> 14.5 us; SGD there: no gain).
PARALLEL_MIN_COMPUTE = 1 << 15


def _threads(n_threads, work, threshold):
    n = resolve_threads(n_threads)
    return 1 if work < threshold else n


GEMM_PARALLEL_MIN_MACS = 1 << 20  # below this the blocked GEMM runs on one thread


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, bias=None, relu=False, bf16=False,
         n_threads=None):
    """C := op(A) op(B) + beta C [+ bias] [then ReLU], by nnx's blocked GEMM (no BLAS call).

    Packing handles the transposes; the bias and ReLU are applied to each tile while it is
    still in registers. With ``bf16`` the packed panels are rounded to bfloat16 in cache, and the
    emulated path multiplies them with the float32 kernels, a native path (or its portable twin)
    with its instruction (``bf16_path``; True is the process's path).
    The summation order of every element is fixed, so the result does not depend on the
    thread count. See ``nnx.kernels.loops.gemm`` for the parameters.
    """
    a, b, m, n, k, out, beta = _args.gemm_args(a, b, trans_a, trans_b, out, beta)
    bias, relu = _args.gemm_epilogue_args(bias, relu, n, a.dtype)
    bf16 = bf16_path(_args.bf16_args(bf16, a.dtype, "gemm"), "gemm")
    if m == 0 or n == 0 or k == 0:  # nothing to multiply: no packing
        return _vectorized.gemm(a, b, trans_a, trans_b, out, beta, bias=bias, relu=relu, bf16=bf16)
    c = np.empty((m, n), dtype=a.dtype) if out is None else out
    nt = _threads(n_threads, m * n * k, GEMM_PARALLEL_MIN_MACS)
    if bf16 and bf16 != "emulated":  # a bf16 instruction's kernel (nnx_gemm_bf16.h), any shape
        _gemm.gemm_bf16(a, b, c, trans_a, trans_b, beta, bias, relu, nt, _gemm.BF16_PATHS.index(bf16))
        return c
    if m == 1 or n == 1:  # a matrix-vector product: no packing (4-10x faster than blocked)
        if bf16:  # no panels to round in: the operands once (each value is used once anyway)
            a, b = round_bf16(a, n_threads=nt), round_bf16(b, n_threads=nt)
        _gemm.gemv(a, b, c, trans_a, trans_b, beta, bias, relu, nt)
    else:
        _gemm.gemm_blocked(a, b, c, trans_a, trans_b, beta, bias, relu, nt, bf16)
    return c


def bf16_path(bf16, where):
    """A checked ``bf16`` argument as the path that runs: False, or a name of _args.BF16_PATHS
    (True is the process's path, ``nnx.precision.bf16_path()``).

    Raises
    ------
    ValueError
        For a path this process cannot run (a native one above the CPU level in force).
    """
    if bf16 is False:
        return False
    name = precision.bf16_path() if bf16 is True else bf16
    if name not in precision.bf16_paths():
        raise ValueError(f"{where}: bf16={name!r}: this process runs at CPU level {cpu.cpu_level()}, whose bf16 "
                         f"paths are {', '.join(precision.bf16_paths())}")
    return name


def _bf16_kernel(path):
    """The bf16 kernel index (_gemm.BF16_PATHS) of a path that runs one, else 0 (float32 kernels)."""
    return _gemm.BF16_PATHS.index(path) if path and path != "emulated" else 0


def round_bf16(x, *, n_threads=None):
    """x rounded to bfloat16, kept in float32 (nnx_bf16.h; see ``loops.round_bf16``)."""
    x = _args.round_bf16_args(x)
    y = np.empty_like(x)
    _bf16.round_bf16(x.reshape(-1), y.reshape(-1), _threads(n_threads, x.size, PARALLEL_MIN_ELEMENTS))
    return y


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) (NaN passes through), mask = x > 0; one fused pass."""
    x = _args.relu_forward_args(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=bool)
    nt = _threads(n_threads, x.size, PARALLEL_MIN_ELEMENTS)
    _activations.relu_forward(x.reshape(-1), y.reshape(-1), mask.reshape(-1).view(np.uint8), nt)
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else exact 0; never writes into ``dy``."""
    dy, mask = _args.relu_backward_args(dy, mask)
    dx = np.empty_like(dy)
    nt = _threads(n_threads, dy.size, PARALLEL_MIN_ELEMENTS)
    _activations.relu_backward(dy.reshape(-1), mask.reshape(-1).view(np.uint8), dx.reshape(-1), nt)
    return dx


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array, one pass per row."""
    x = _args.rows_args(x, "softmax")
    out = np.empty_like(x)
    _losses.softmax(x, out, _threads(n_threads, x.size, PARALLEL_MIN_ROW_ELEMENTS))
    return out


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array, one pass per row."""
    x = _args.rows_args(x, "log_softmax")
    out = np.empty_like(x)
    _losses.log_softmax(x, out, _threads(n_threads, x.size, PARALLEL_MIN_ROW_ELEMENTS))
    return out


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Fused mean cross-entropy and ``(softmax(logits) - onehot(labels)) / N``, one pass per row.

    Per-row losses are summed after the parallel loop, in row order, so the loss does not
    depend on the thread count.
    """
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    dlogits = np.empty_like(logits)
    row_loss = np.empty(logits.shape[0], dtype=np.float64)
    nt = _threads(n_threads, logits.size, PARALLEL_MIN_ROW_ELEMENTS)
    _losses.softmax_cross_entropy(logits, labels, dlogits, row_loss, nt)
    return float(row_loss.sum() / logits.shape[0]), dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One SGD step in place, one fused pass; see ``nnx.kernels.loops.sgd_update``."""
    _args.sgd_update_args(param, grad, momentum_buffer, momentum, lr, dampening, weight_decay)
    buf = momentum_buffer if momentum_buffer is not None else param  # not touched when mu == 0
    nt = _threads(n_threads, param.size, PARALLEL_MIN_ELEMENTS)
    _optim.sgd_update(param.reshape(-1), grad.reshape(-1), buf.reshape(-1), float(lr),
                      float(momentum), float(dampening), float(weight_decay), bool(nesterov),
                      bool(first_step), nt)


# ---- convolution and pooling -----------------------------------------------------------------
# A conv or pool call goes parallel when it has at least this many output elements (below it
# the OpenMP fork/join and wake-up cost more than the work).
PARALLEL_MIN_CONV_OUTPUTS = 1 << 13
# The weight gradient takes the tile GEMM (dW^T = cols dY^T) when OC is a multiple of its
# 16-column panels and C*KH*KW at least this; else the dot-product kernel (OC padded to 4 only).
# Measured on 2 threads (Zen 3, bench/README.md): tiles 1.7-4.6x faster for 6->16 k5, 16->32,
# 32->32, 32->64 and 64->64 3x3, 1.25x for 1->16 k5 and 3->16 k3; at C*KH*KW = 9 (1->32 k3) even.
DW_TILES_MIN_CKK = 16


def _round_up(v, m):
    return -(-v // m) * m


def _check_alloc(status, where):
    if status != 0:
        raise MemoryError(f"{where}: could not allocate the per-thread scratch buffers")


def im2col(x, kh, kw, stride, pad, *, n_threads=None):
    """Unfold windows into columns (C*kh*kw, N*OH*OW), one sample per thread.

    See ``nnx.kernels.loops.im2col`` for the layout.
    """
    x, kh, kw, sh, sw, ph, pw, oh, ow = _args.im2col_args(x, kh, kw, stride, pad)
    n, c = x.shape[:2]
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    nt = _threads(n_threads, cols.size, PARALLEL_MIN_CONV_OUTPUTS)
    _conv.im2col(x, cols, kh, kw, sh, sw, ph, pw, oh, ow, nt)
    return cols


def col2im(cols, x_shape, kh, kw, stride, pad, *, n_threads=None):
    """Fold columns back onto (N, C, H, W), summing overlaps; each thread owns whole samples."""
    cols, x_shape, kh, kw, sh, sw, ph, pw, oh, ow = _args.col2im_args(cols, x_shape, kh, kw, stride, pad)
    dx = np.empty(x_shape, dtype=cols.dtype)
    nt = _threads(n_threads, cols.size, PARALLEL_MIN_CONV_OUTPUTS)
    _conv.col2im(cols, dx, kh, kw, sh, sw, ph, pw, oh, ow, nt)
    return dx


def conv2d_forward(x, w, b, stride, pad, *, relu=False, bf16=False, n_threads=None):
    """Convolution, per-sample im2col + tiled GEMM in nogil code; caches x (columns are
    recomputed in backward, which is cheaper than keeping them). The bias, and ReLU with
    ``relu=True``, are applied in the copy-out epilogue. With ``bf16`` (True: the process's
    path) the emulated path rounds x and w first (one pass over them, small beside the
    convolution's C*KH*KW products per output) and runs the float32 kernels; a native path (or its
    portable twin) multiplies with its bf16 kernel, which rounds while it packs, so the cache
    keeps x and w as they came."""
    x, w, b, sh, sw, ph, pw, oh, ow, relu = _args.conv2d_forward_args(x, w, b, stride, pad, relu)
    bf16 = bf16_path(_args.bf16_args(bf16, x.dtype, "conv2d_forward"), "conv2d_forward")
    if bf16 == "emulated":  # a bf16 kernel rounds while it packs; the float32 one needs them rounded
        x, w = round_bf16(x, n_threads=n_threads), round_bf16(w, n_threads=n_threads)
    n = x.shape[0]
    oc, c, kh, kw = w.shape
    ckk = c * kh * kw
    wpad = np.zeros((_round_up(oc, _conv.MR), ckk), dtype=x.dtype)
    wpad[:oc] = w.reshape(oc, ckk)
    bias = b if b is not None else np.zeros(oc, dtype=x.dtype)
    y = np.empty((n, oc, oh, ow), dtype=x.dtype)
    nt = _threads(n_threads, y.size, PARALLEL_MIN_CONV_OUTPUTS)
    # stride 1 reads shifted views of the padded sample (no im2col), other strides im2col's columns
    status = _conv.conv2d_forward(x, wpad, bias, y, kh, kw, sh, sw, ph, pw, relu, nt, _bf16_kernel(bf16))
    _check_alloc(status, "conv2d_forward")
    return y, _args.ConvCache(x, w, b is not None, (sh, sw), (ph, pw), (oh, ow), bf16=bf16)


def conv2d_backward(dy, cache, *, input_grad=True, n_threads=None):
    """``(dx, dw, db)``; dw is summed from fixed per-chunk partials in chunk order, so it is
    bit-identical for every thread count. ``dx`` is None with ``input_grad=False``."""
    dy, cache, input_grad = _args.conv2d_backward_args(dy, cache, input_grad)
    x, w = cache.x, cache.w
    db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None  # from dy as it came: bias is no GEMM operand
    bf16 = bf16_path(cache.bf16, "conv2d_backward")  # the forward's path
    if bf16 == "emulated":
        dy = round_bf16(dy, n_threads=n_threads)
    (sh, sw), (ph, pw) = cache.stride, cache.pad
    n = x.shape[0]
    oc, c, kh, kw = w.shape
    ckk = c * kh * kw
    wt = np.zeros((_round_up(ckk, _conv.MR), oc), dtype=x.dtype)
    wt[:ckk] = w.reshape(oc, ckk).T
    n_chunks = _round_up(n, _conv.CHUNK) // _conv.CHUNK
    # dW as (cols dY^T)^T through the tile GEMM when OC fills its 16-wide panels; otherwise the
    # dot-product kernel, which pads OC only to 4 (LeNet conv1, OC=6: 3.4x faster that way).
    as_nn = oc % _conv.PANEL == 0 and ckk >= DW_TILES_MIN_CKK and _bf16_kernel(bf16) == 0
    parts = np.empty((n_chunks, wt.shape[0], oc) if as_nn else
                     (n_chunks, _round_up(oc, _conv.NT_B), wt.shape[0]), dtype=x.dtype)
    dx = np.empty_like(x) if input_grad else x[:0]
    nt = _threads(n_threads, dy.size, PARALLEL_MIN_CONV_OUTPUTS)
    status = _conv.conv2d_backward(x, wt, dy, parts, as_nn, dx, bool(input_grad), kh, kw, sh, sw, ph, pw,
                                   nt, _bf16_kernel(bf16))
    _check_alloc(status, "conv2d_backward")
    # Chunk partials added in chunk order: the same sums in the same order for any thread count.
    total = np.add.reduce(parts, axis=0)
    dw = (total[:ckk].T if as_nn else total[:oc, :ckk]).reshape(w.shape).copy()
    return (dx if input_grad else None), dw, db


def maxpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Max over windows, one (H, W) plane per prange iteration; argmax as in ``loops``."""
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "maxpool2d_forward")
    y = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
    arg = np.empty(y.shape, dtype=np.int64)
    _pool.maxpool2d_forward(x, y, arg, kh, kw, sh, sw,
                            _threads(n_threads, y.size, PARALLEL_MIN_CONV_OUTPUTS))
    return y, arg


def maxpool2d_backward(dy, argmax, x_shape, *, n_threads=None):
    """Route dy to the argmax positions; threads own whole planes (no atomics)."""
    dy, argmax, x_shape = _args.maxpool_backward_args(dy, argmax, x_shape)
    dx = np.empty(x_shape, dtype=dy.dtype)
    _pool.maxpool2d_backward(dy, argmax, dx, _threads(n_threads, dx.size, PARALLEL_MIN_CONV_OUTPUTS))
    return dx


def avgpool2d_forward(x, k, stride=None, *, n_threads=None):
    """Mean over windows, one plane per prange iteration."""
    x, kh, kw, sh, sw, oh, ow = _args.pool_args(x, k, stride, "avgpool2d_forward")
    y = np.empty((*x.shape[:2], oh, ow), dtype=x.dtype)
    _pool.avgpool2d_forward(x, y, kh, kw, sh, sw, _threads(n_threads, y.size, PARALLEL_MIN_CONV_OUTPUTS))
    return y


def avgpool2d_backward(dy, x_shape, k, stride=None, *, n_threads=None):
    """Spread dy / (kh*kw) over each window; threads own whole planes."""
    dy, x_shape, kh, kw, sh, sw, oh, ow = _args.pool_backward_args(dy, x_shape, k, stride,
                                                                   "avgpool2d_backward")
    dx = np.empty(x_shape, dtype=dy.dtype)
    _pool.avgpool2d_backward(dy, dx, kh, kw, sh, sw, _threads(n_threads, dx.size, PARALLEL_MIN_CONV_OUTPUTS))
    return dx


# ---- smooth activations --------------------------------------------------------------------
_U = _activations.Unary  # the kinds of _activations.pxd


def _unary(x, kind, param, n_threads):
    y = np.empty_like(x)
    heavy = kind != _U.LEAKY_RELU  # sigmoid, tanh, ELU: an exp each
    _activations.unary(x.reshape(-1), y.reshape(-1), kind, float(param),
                       _threads(n_threads, x.size, PARALLEL_MIN_COMPUTE if heavy else PARALLEL_MIN_ELEMENTS))
    return y


def _unary_backward(dy, x, y, kind, param, n_threads):
    dx = np.empty_like(dy)
    _activations.unary_backward(dy.reshape(-1), x.reshape(-1), y.reshape(-1), dx.reshape(-1), kind,
                                float(param), _threads(n_threads, dy.size, PARALLEL_MIN_ELEMENTS))
    return dx


def sigmoid_forward(x, *, n_threads=None):
    """y = 1 / (1 + exp(-x)), stable, vectorised float32 exp."""
    return _unary(_args.unary_args(x, "sigmoid_forward"), _U.SIGMOID, 0.0, n_threads)


def sigmoid_backward(dy, y, *, n_threads=None):
    """dx = dy * y * (1 - y)."""
    dy, y = _args.unary_backward_args(dy, (y,), "sigmoid_backward")
    return _unary_backward(dy, y, y, _U.SIGMOID, 0.0, n_threads)


def tanh_forward(x, *, n_threads=None):
    """y = tanh(x): float32 vectorised (Cephes' tanhf, nnx_act.h, ~2 ulp), float64 libm."""
    return _unary(_args.unary_args(x, "tanh_forward"), _U.TANH, 0.0, n_threads)


def tanh_backward(dy, y, *, n_threads=None):
    """dx = dy * (1 - y^2)."""
    dy, y = _args.unary_backward_args(dy, (y,), "tanh_backward")
    return _unary_backward(dy, y, y, _U.TANH, 0.0, n_threads)


def elu_forward(x, alpha=1.0, *, n_threads=None):
    """y = x if x > 0 else alpha * expm1(x)."""
    return _unary(_args.unary_args(x, "elu_forward", alpha=alpha), _U.ELU, alpha, n_threads)


def elu_backward(dy, x, y, alpha=1.0, *, n_threads=None):
    """dx = dy if x > 0 else dy * (y + alpha)."""
    dy, x, y = _args.unary_backward_args(dy, (x, y), "elu_backward", ("x", "y"), alpha=alpha)
    return _unary_backward(dy, x, y, _U.ELU, alpha, n_threads)


def leaky_relu_forward(x, negative_slope=0.01, *, n_threads=None):
    """y = x if x > 0 else negative_slope * x."""
    x = _args.unary_args(x, "leaky_relu_forward", negative_slope=negative_slope)
    return _unary(x, _U.LEAKY_RELU, negative_slope, n_threads)


def leaky_relu_backward(dy, x, negative_slope=0.01, *, n_threads=None):
    """dx = dy if x > 0 else negative_slope * dy."""
    dy, x = _args.unary_backward_args(dy, (x,), "leaky_relu_backward", ("x",), negative_slope=negative_slope)
    return _unary_backward(dy, x, x, _U.LEAKY_RELU, negative_slope, n_threads)


def batchnorm_forward(x, gamma, beta, eps=1e-5, *, n_threads=None):
    """Training-mode batch norm, one channel per thread; see ``nnx.kernels.loops.batchnorm_forward``."""
    x3, gamma, beta, eps = _args.batchnorm_args(x, gamma, beta, eps)
    c = x3.shape[1]
    xhat, y = np.empty_like(x3), np.empty_like(x3)
    mean, var, invstd = np.empty(c), np.empty(c), np.empty(c, dtype=x3.dtype)
    _norm.batchnorm_forward(x3, gamma, beta, xhat, y, mean, var, invstd, eps,
                            _threads(n_threads, x3.size, PARALLEL_MIN_ELEMENTS))
    return y.reshape(x.shape), xhat.reshape(x.shape), mean, var, invstd


def normalize_forward(x, mean, std, *, n_threads=None):
    """(x - mean) / std per channel, one (channel, sample) plane per prange iteration; see
    ``nnx.kernels.loops.normalize_forward``."""
    x3, mean, std = _args.normalize_args(x, mean, std, "normalize_forward")
    y = np.empty_like(x3)
    _norm.normalize(x3, mean, std, y, _threads(n_threads, x3.size, PARALLEL_MIN_ELEMENTS))
    return y.reshape(x.shape)


def normalize_backward(dy, std, *, n_threads=None):
    """dy / std per channel; see ``nnx.kernels.loops.normalize_backward``."""
    dy3, std = _args.normalize_args(dy, None, std, "normalize_backward")
    dx = np.empty_like(dy3)
    _norm.normalize(dy3, np.zeros_like(std), std, dx, _threads(n_threads, dy3.size, PARALLEL_MIN_ELEMENTS))
    return dx.reshape(dy.shape)


def batchnorm_apply(x, mean, invstd, gamma, beta, *, n_threads=None):
    """Batch norm with given statistics (eval mode), the forward's per-channel pass; see
    ``nnx.kernels.loops.batchnorm_apply``."""
    x3, mean, invstd, gamma, beta = _args.batchnorm_apply_args(x, mean, invstd, gamma, beta)
    xhat, y = np.empty_like(x3), np.empty_like(x3)
    _norm.batchnorm_apply(x3, mean, invstd, gamma, beta, xhat, y, _threads(n_threads, x3.size, PARALLEL_MIN_ELEMENTS))
    return y.reshape(x.shape), xhat.reshape(x.shape)


def batchnorm_backward(dy, xhat, invstd, gamma, *, n_threads=None):
    """Gradients of batchnorm_forward: ``(dx, dgamma, dbeta)`` from the saved xhat and invstd."""
    dy3, xhat3, invstd, gamma = _args.batchnorm_backward_args(dy, xhat, invstd, gamma)
    c = dy3.shape[1]
    dx = np.empty_like(dy3)
    dgamma, dbeta = np.empty(c, dy3.dtype), np.empty(c, dy3.dtype)
    _norm.batchnorm_backward(dy3, xhat3, invstd, gamma, dx, dgamma, dbeta,
                             _threads(n_threads, dy3.size, PARALLEL_MIN_ELEMENTS))
    return dx.reshape(dy.shape), dgamma, dbeta


def adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
                decoupled=False, *, n_threads=None):
    """One Adam/AdamW step in place, one fused pass; see ``nnx.kernels.loops.adam_update``."""
    _args.adam_update_args(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step)
    flat = [a.reshape(-1) for a in (param, grad, exp_avg, exp_avg_sq)]
    _optim.adam_update(*flat, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
                       int(step), bool(decoupled), _threads(n_threads, param.size, PARALLEL_MIN_COMPUTE))


def adagrad_update(param, grad, state_sum, lr, eps, weight_decay, *, n_threads=None):
    """One Adagrad step in place, one fused pass; see ``nnx.kernels.loops.adagrad_update``."""
    _args.adagrad_update_args(param, grad, state_sum, lr, eps, weight_decay)
    _optim.adagrad_update(param.reshape(-1), grad.reshape(-1), state_sum.reshape(-1), float(lr), float(eps),
                          float(weight_decay), _threads(n_threads, param.size, PARALLEL_MIN_COMPUTE))


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                   momentum, *, n_threads=None):
    """One RMSprop step in place, one fused pass; see ``nnx.kernels.loops.rmsprop_update``."""
    _args.rmsprop_update_args(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                              weight_decay, momentum)
    flat = [(a if a is not None else square_avg).reshape(-1)  # unused arrays are never touched
            for a in (param, grad, square_avg, grad_avg, momentum_buffer if momentum > 0 else None)]
    _optim.rmsprop_update(*flat, float(lr), float(alpha), float(eps), float(weight_decay), float(momentum),
                          grad_avg is not None, _threads(n_threads, param.size, PARALLEL_MIN_COMPUTE))
