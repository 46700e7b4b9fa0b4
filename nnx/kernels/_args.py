"""Argument checks shared by the three tiers, so every tier refuses the same bad input with
the same message before any arithmetic (and, for the compiled tier, before any nogil code)."""
import math

import numpy as np

from .._validation import check_array, check_labels, check_real


def flag(value, name, where):
    """A bool argument (``relu``, ``trans_a``, ...) as a Python bool."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{where}: {name}: expected a bool, got {value!r}")
    return bool(value)


# The bf16 paths, each an arithmetic (docs/precision.md): "emulated" (float32 FMA on bf16-rounded
# operands, any summation order), the vdpbf16ps chain ("avx512_bf16"), the AMX tile chain ("amx");
# "-portable" runs the same instruction's portable C definition (the same bits, on any CPU).
BF16_PATHS = ("emulated", "avx512_bf16", "avx512_bf16-portable", "amx", "amx-portable")


def bf16_args(bf16, dtype, where):
    """The ``bf16`` argument: False; True (bf16 operands, the tier's own arithmetic: emulated in
    loops and vectorized, the process's path, ``nnx.precision.bf16_path()``, in the compiled tier);
    or a path name of BF16_PATHS, whose arithmetic every tier then follows. Only for float32
    operands (bfloat16 rounds float32)."""
    if isinstance(bf16, str):
        if bf16 not in BF16_PATHS:
            raise ValueError(f"{where}: bf16: expected a bool or one of {', '.join(BF16_PATHS)}, got {bf16!r}")
    else:
        bf16 = flag(bf16, "bf16", where)
    if bf16 and np.dtype(dtype) != np.float32:
        raise TypeError(f"{where}: bf16={bf16!r} needs float32 operands, got {np.dtype(dtype)}")
    return bf16


def bf16_arithmetic(bf16):
    """"emulated", "dp" (vdpbf16ps's pair chain) or "amx" (tdpbf16ps's): what a reference tier
    computes for a checked ``bf16`` argument that is not False."""
    if bf16 is True or bf16 == "emulated":
        return "emulated"
    return "dp" if bf16.startswith("avx512_bf16") else "amx"


def round_bf16_args(x):
    """round_bf16's input: a float32 array (any shape), made C-contiguous."""
    x = check_array(x, "x", where="round_bf16")
    if x.dtype != np.float32:
        raise TypeError(f"round_bf16: x: expected float32 (bfloat16 rounds float32), got {x.dtype}")
    return x


def gemm_epilogue_args(bias, relu, n, dtype):
    """Validate gemm's fused epilogue: ``bias`` None or (N,) of the operands' dtype; ``relu`` bool."""
    where = "gemm"
    relu = flag(relu, "relu", where)
    if bias is not None:
        bias = check_array(bias, "bias", ndim=1, dtype=dtype, where=where)
        if bias.shape[0] != n:
            raise ValueError(f"{where}: bias: expected shape ({n},) (one value per output column), "
                             f"got {bias.shape}")
    return bias, relu


def gemm_args(a, b, trans_a, trans_b, out, beta):
    """Validate gemm's arguments; return ``(a, b, m, n, k, out, beta)``."""
    where = "gemm"
    a = check_array(a, "a", ndim=2, where=where)
    b = check_array(b, "b", ndim=2, dtype=a.dtype, where=where)
    trans_a, trans_b = flag(trans_a, "trans_a", where), flag(trans_b, "trans_b", where)
    m, k = a.shape[::-1] if trans_a else a.shape
    k2, n = b.shape[::-1] if trans_b else b.shape
    if k != k2:
        raise ValueError(
            f"{where}: inner dimensions differ: op(a) is {m}x{k} but op(b) is {k2}x{n} "
            f"(a.shape={a.shape}, trans_a={trans_a}, b.shape={b.shape}, trans_b={trans_b})"
        )
    beta = check_real(beta, "beta", where=where)
    if out is None:
        if beta != 0.0:
            raise ValueError(f"{where}: beta={beta} needs an `out` array to accumulate into")
    else:
        check_out(out, (m, n), a.dtype, where, inputs=((a, "a"), (b, "b")))
    return a, b, m, n, k, out, beta


def check_out(out, shape, dtype, where, name="out", inputs=()):
    """An output array must match exactly (it is written in place, never reallocated) and not
    overlap any of ``inputs`` (``(array, name)`` pairs), which the kernel still reads."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{where}: {name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{where}: {name}: expected dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{where}: {name}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{where}: {name}: expected a writeable C-contiguous array")
    for arr, other in inputs:
        if np.shares_memory(out, arr):
            raise ValueError(f"{where}: {name}: overlaps the input {other}; pass a separate array")


def relu_forward_args(x):
    return check_array(x, "x", where="relu_forward")


def relu_backward_args(dy, mask):
    where = "relu_backward"
    dy = check_array(dy, "dy", where=where)
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise TypeError(f"{where}: mask: expected the bool array from relu_forward, got {got}")
    if mask.shape != dy.shape:
        raise ValueError(f"{where}: mask: expected shape {dy.shape} (as dy), got {mask.shape}")
    return dy, np.ascontiguousarray(mask)


def rows_args(x, where):
    """A (N, C) score matrix for the row-wise softmax family (N may be 0, C may not)."""
    x = check_array(x, "x", ndim=2, where=where)
    if x.shape[1] == 0:
        raise ValueError(f"{where}: x: expected at least one class (column), got shape {x.shape}")
    return x


def softmax_cross_entropy_args(logits, labels):
    where = "softmax_cross_entropy"
    logits = check_array(logits, "logits", ndim=2, where=where)
    n, c = logits.shape
    if n == 0:
        raise ValueError(f"{where}: logits: the batch is empty (shape {logits.shape}); the mean "
                         "loss over zero samples is undefined")
    if c == 0:
        raise ValueError(f"{where}: logits: expected at least one class, got shape {logits.shape}")
    labels = check_labels(labels, n, c, where=where)
    return logits, labels


def optim_args(where, param, grad, state, needed, **scalars):
    """An optimizer step's arrays and hyper-parameters, checked before anything is written.

    param, grad and every ``state`` array (``{name: array or None}``; ``needed`` names the ones
    that may not be None) are same-shape, same-dtype, C-contiguous, the written ones writeable;
    ``scalars`` are finite numbers >= 0.
    """
    for name, value in scalars.items():
        if not (type(value) is float and 0.0 <= value < math.inf):  # the common case, cheaply
            check_real(value, name, where=where, low=0)
    for name in needed:
        if state[name] is None:
            raise ValueError(f"{where}: {name}: required with these hyper-parameters, got None")
    arrays = [(param, "param"), (grad, "grad")] + [(a, n) for n, a in state.items() if a is not None]
    for arr, name in arrays:
        if not isinstance(arr, np.ndarray) or arr.dtype not in (np.float32, np.float64):
            raise TypeError(f"{where}: {name}: expected a float32/float64 ndarray")
        if arr.shape != param.shape or arr.dtype != param.dtype:
            raise ValueError(f"{where}: {name}: expected shape {param.shape} and dtype "
                             f"{param.dtype}, got {arr.shape} {arr.dtype}")
        if not arr.flags.c_contiguous or (name != "grad" and not arr.flags.writeable):
            raise ValueError(f"{where}: {name}: expected a writeable C-contiguous array")


def sgd_update_args(param, grad, momentum_buffer, momentum, lr, dampening, weight_decay):
    optim_args("sgd_update", param, grad, {"momentum_buffer": momentum_buffer},
               ("momentum_buffer",) if momentum != 0 else (), lr=lr, momentum=momentum,
               dampening=dampening, weight_decay=weight_decay)


def adagrad_update_args(param, grad, state_sum, lr, eps, weight_decay):
    optim_args("adagrad_update", param, grad, {"state_sum": state_sum}, ("state_sum",), lr=lr, eps=eps,
               weight_decay=weight_decay)


def rmsprop_update_args(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay,
                        momentum):
    optim_args("rmsprop_update", param, grad,
               {"square_avg": square_avg, "grad_avg": grad_avg, "momentum_buffer": momentum_buffer},
               ("square_avg",) + (("momentum_buffer",) if momentum > 0 else ()), lr=lr, alpha=alpha,
               eps=eps, weight_decay=weight_decay, momentum=momentum)
    check_real(alpha, "alpha", where="rmsprop_update", high=1)


def pair(value, name, where, minimum=1):
    """An int or a (h, w) pair of ints >= ``minimum``, as a tuple of two Python ints."""
    vals = value if isinstance(value, tuple | list) else (value, value)
    if len(vals) != 2:
        raise ValueError(f"{where}: {name}: expected an int or a pair (h, w), got {value!r}")
    out = []
    for v in vals:
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
            raise TypeError(f"{where}: {name}: expected an int or a pair of ints, got {value!r}")
        if not minimum <= v <= MAX_EXTENT:
            raise ValueError(f"{where}: {name}: expected values in [{minimum}, {MAX_EXTENT}], got {value!r}")
        out.append(int(v))
    return tuple(out)


# Window sizes, strides and paddings, and a padded plane's pixels, stay within a C int, and a
# padded sample within MAX_PADDED elements: the compiled tier keeps one per thread as scratch.
MAX_EXTENT = 2**31 - 1
MAX_PADDED = 2**31


def conv_geometry(x_shape, kh, kw, stride, pad, where):
    """Validate window geometry against an (N, C, H, W) shape; return (sh, sw, ph, pw, oh, ow)."""
    kh, kw = pair((kh, kw), "kernel size", where)
    sh, sw = pair(stride, "stride", where)
    ph, pw = pair(pad, "pad", where, minimum=0)
    _, c, h, w = x_shape
    hp, wp = h + 2 * ph, w + 2 * pw
    if c * hp * wp > MAX_PADDED:
        raise ValueError(f"{where}: padded input of {c}x{hp}x{wp} per sample is too large (at most "
                         f"{MAX_PADDED} elements); check pad {(ph, pw)} and the input shape {tuple(x_shape)}")
    if kh > hp or kw > wp:
        raise ValueError(
            f"{where}: input too small for the kernel: padded input is {hp}x{wp}, kernel is "
            f"{kh}x{kw} (input shape {tuple(x_shape)}, pad {(ph, pw)})"
        )
    return kh, kw, sh, sw, ph, pw, (hp - kh) // sh + 1, (wp - kw) // sw + 1


def images(x, where, name="x", dtype=None):
    """A 4-D (N, C, H, W) float array."""
    return check_array(x, name, ndim=4, dtype=dtype, where=where)


def im2col_args(x, kh, kw, stride, pad):
    where = "im2col"
    x = images(x, where)
    return (x, *conv_geometry(x.shape, kh, kw, stride, pad, where))


def col2im_args(cols, x_shape, kh, kw, stride, pad):
    where = "col2im"
    cols = check_array(cols, "cols", ndim=2, where=where)
    x_shape = shape4(x_shape, where)
    geo = conv_geometry(x_shape, kh, kw, stride, pad, where)
    n, c = x_shape[:2]
    oh, ow = geo[-2:]
    expect = (c * geo[0] * geo[1], n * oh * ow)
    if cols.shape != expect:
        raise ValueError(f"{where}: cols: expected shape {expect} for x_shape {x_shape}, got {cols.shape}")
    return (cols, x_shape, *geo)


def shape4(x_shape, where, name="x_shape"):
    try:
        shape = tuple(int(s) for s in x_shape)
    except TypeError as exc:
        raise TypeError(f"{where}: {name}: expected a 4-tuple (N, C, H, W), got {x_shape!r}") from exc
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"{where}: {name}: expected 4 positive sizes (N, C, H, W), got {x_shape!r}")
    return shape


def conv2d_forward_args(x, w, b, stride, pad, relu, where="conv2d_forward"):
    """Validate every argument of conv2d_forward; return ``(x, w, b, sh, sw, ph, pw, oh, ow, relu)``."""
    relu = flag(relu, "relu", where)
    x = images(x, where)
    w = check_array(w, "w", ndim=4, dtype=x.dtype, where=where)
    oc, wc, kh, kw = w.shape
    if wc != x.shape[1]:
        raise ValueError(
            f"{where}: channel mismatch: w expects C={wc} input channels (w.shape={w.shape}), "
            f"x has C={x.shape[1]} (x.shape={x.shape})"
        )
    if min(w.shape) < 1:
        raise ValueError(f"{where}: w: expected non-empty (OC, C, KH, KW), got {w.shape}")
    if b is not None:
        b = check_array(b, "b", ndim=1, dtype=x.dtype, where=where)
        if b.shape[0] != oc:
            raise ValueError(f"{where}: b: expected shape ({oc},) (one per output channel), got {b.shape}")
    geo = conv_geometry(x.shape, kh, kw, stride, pad, where)
    return (x, w, b, *geo[2:], relu)


def conv2d_backward_args(dy, cache, input_grad, where="conv2d_backward"):
    """Validate dy and the forward's cache; return ``(dy, checked cache, input_grad)``.

    A cache is a plain object that code can change or forge, and the compiled tier's nogil
    code trusts its geometry: so all of it is checked again, against itself, and the backward
    pass runs on the checked copy.
    """
    if not isinstance(cache, ConvCache):
        raise TypeError(f"{where}: cache: expected the cache returned by conv2d_forward, got "
                        f"{type(cache).__name__}")
    x, w, _, sh, sw, ph, pw, oh, ow, _ = conv2d_forward_args(cache.x, cache.w, None, cache.stride, cache.pad,
                                                            False, where=f"{where}: cache")
    if not isinstance(cache.out_hw, tuple | list) or tuple(cache.out_hw) != (oh, ow):
        raise ValueError(f"{where}: cache: out_hw {cache.out_hw!r} does not match x, w, stride and pad "
                         f"(which give {(oh, ow)})")
    cols = cache.cols
    expect = (w.shape[1] * w.shape[2] * w.shape[3], x.shape[0] * oh * ow)
    if cols is not None and (not isinstance(cols, np.ndarray) or cols.dtype != x.dtype or cols.shape != expect):
        raise ValueError(f"{where}: cache: cols must be a {x.dtype} array of shape {expect}")
    dy = check_array(dy, "dy", ndim=4, dtype=x.dtype, where=where)
    if dy.shape != (x.shape[0], w.shape[0], oh, ow):
        raise ValueError(f"{where}: dy: expected shape {(x.shape[0], w.shape[0], oh, ow)} (the forward output), "
                         f"got {dy.shape}")
    bf16 = bf16_args(cache.bf16, x.dtype, f"{where}: cache")
    checked = ConvCache(x, w, bool(cache.has_bias), (sh, sw), (ph, pw), (oh, ow), cols, bf16)
    return dy, checked, flag(input_grad, "input_grad", where)


def pool_args(x, k, stride, where):
    """Validate pooling input; returns (x, kh, kw, sh, sw, oh, ow). stride None means k."""
    x = images(x, where)
    kh, kw = pair(k, "k", where)
    sh, sw = pair((kh, kw) if stride is None else stride, "stride", where)
    geo = conv_geometry(x.shape, kh, kw, (sh, sw), 0, where)
    return (x, kh, kw, sh, sw, geo[-2], geo[-1])


def pool_backward_args(dy, x_shape, k, stride, where):
    x_shape = shape4(x_shape, where)
    kh, kw = pair(k, "k", where)
    sh, sw = pair((kh, kw) if stride is None else stride, "stride", where)
    oh, ow = conv_geometry(x_shape, kh, kw, (sh, sw), 0, where)[-2:]
    dy = images(dy, where, "dy")
    if dy.shape != (*x_shape[:2], oh, ow):
        raise ValueError(f"{where}: dy: expected shape {(*x_shape[:2], oh, ow)}, got {dy.shape}")
    return dy, x_shape, kh, kw, sh, sw, oh, ow


def maxpool_backward_args(dy, argmax, x_shape):
    where = "maxpool2d_backward"
    x_shape = shape4(x_shape, where)
    dy = images(dy, where, "dy")
    if dy.shape[:2] != x_shape[:2]:
        raise ValueError(f"{where}: dy: batch/channels {dy.shape[:2]} differ from x_shape {x_shape[:2]}")
    if not isinstance(argmax, np.ndarray) or argmax.dtype != np.int64 or argmax.shape != dy.shape:
        raise TypeError(f"{where}: argmax: expected the int64 array of shape {dy.shape} returned by "
                        f"maxpool2d_forward, got {getattr(argmax, 'dtype', type(argmax).__name__)} "
                        f"{getattr(argmax, 'shape', '')}")
    argmax = np.ascontiguousarray(argmax)
    if argmax.size and (argmax.min() < 0 or argmax.max() >= x_shape[2] * x_shape[3]):
        raise ValueError(f"{where}: argmax: indices must lie in [0, H*W) = [0, {x_shape[2] * x_shape[3]})")
    return dy, argmax, x_shape


class ConvCache:
    """What conv2d_backward needs from the forward pass (tier-specific ``cols`` may be None);
    after a bf16 forward, ``x`` and ``w`` are the bf16-rounded operands and ``bf16`` is True."""

    __slots__ = ("x", "w", "has_bias", "stride", "pad", "out_hw", "cols", "bf16")

    def __init__(self, x, w, has_bias, stride, pad, out_hw, cols=None, bf16=False):
        self.x, self.w, self.has_bias = x, w, has_bias
        self.stride, self.pad, self.out_hw, self.cols, self.bf16 = stride, pad, out_hw, cols, bf16


def unary_args(x, where, **params):
    """An activation's input and its finite scalar parameters (``alpha=...``); returns x."""
    for name, value in params.items():
        check_real(value, name, where=where)
    return check_array(x, "x", where=where)


def unary_backward_args(dy, saved, where, names=("y",), **params):
    """dy and the arrays saved by the forward pass: same shape and dtype (+ finite scalars)."""
    dy = unary_args(dy, where, **params)
    out = [dy]
    for arr, name in zip(saved, names, strict=True):
        arr = check_array(arr, name, dtype=dy.dtype, where=where)
        if arr.shape != dy.shape:
            raise ValueError(f"{where}: {name}: expected shape {dy.shape} (as dy), got {arr.shape}")
        out.append(arr)
    return out


def batchnorm_args(x, gamma, beta, eps, where="batchnorm_forward"):
    """x (N, C, ...) viewed as (N, C, S); gamma, beta (C,) of x's dtype."""
    x = check_array(x, "x", min_ndim=2, where=where)
    c = x.shape[1]
    for arr, name in ((gamma, "gamma"), (beta, "beta")):
        a = check_array(arr, name, ndim=1, dtype=x.dtype, where=where)
        if a.shape != (c,):
            raise ValueError(f"{where}: {name}: expected shape ({c},) (one per channel), got {a.shape}")
    if x.size // max(c, 1) < 2:
        raise ValueError(f"{where}: x: expected more than 1 value per channel, got shape {x.shape}")
    eps = check_real(eps, "eps", where=where, low=0, low_open=True)
    return x.reshape(x.shape[0], c, -1), np.ascontiguousarray(gamma), np.ascontiguousarray(beta), eps


def normalize_args(x, mean, std, where):
    """x (N, C, ...) viewed as (N, C, S) (a 1-D x as (N, 1, 1)); mean and std (C,) of x's dtype,
    a single value standing for every channel; std finite and > 0 (a division by it)."""
    x = check_array(x, "x", min_ndim=1, where=where)
    c = x.shape[1] if x.ndim > 1 else 1
    out = []
    for arr, name in ((mean, "mean"), (std, "std")):
        if arr is None:
            continue
        a = check_array(arr, name, ndim=1, dtype=x.dtype, where=where)
        if a.shape[0] not in (1, c):
            raise ValueError(f"{where}: {name}: expected {c} values (one per channel on axis 1) or 1, got {a.shape[0]}")
        if not np.isfinite(a).all():
            raise ValueError(f"{where}: {name}: expected finite values")
        out.append(np.broadcast_to(a, (c,)).copy())
    if std is not None and not (out[-1] > 0).all():
        raise ValueError(f"{where}: std: expected values > 0, got {out[-1].min()}")
    return (x.reshape(x.shape[0], c, -1), *out)


def batchnorm_apply_args(x, mean, invstd, gamma, beta, where="batchnorm_apply"):
    """x (N, C, ...) viewed as (N, C, S); mean, invstd, gamma, beta (C,) of x's dtype."""
    x = check_array(x, "x", min_ndim=2, where=where)
    c = x.shape[1]
    out = []
    for arr, name in ((mean, "mean"), (invstd, "invstd"), (gamma, "gamma"), (beta, "beta")):
        a = check_array(arr, name, ndim=1, dtype=x.dtype, where=where)
        if a.shape != (c,):
            raise ValueError(f"{where}: {name}: expected shape ({c},) (one per channel), got {a.shape}")
        out.append(np.ascontiguousarray(a))
    return (x.reshape(x.shape[0], c, -1), *out)


def batchnorm_backward_args(dy, xhat, invstd, gamma, where="batchnorm_backward"):
    dy = check_array(dy, "dy", min_ndim=2, where=where)
    xhat = check_array(xhat, "xhat", dtype=dy.dtype, where=where)
    if xhat.shape != dy.shape:
        raise ValueError(f"{where}: xhat: expected shape {dy.shape} (as dy), got {xhat.shape}")
    c = dy.shape[1]
    out = []
    for arr, name in ((invstd, "invstd"), (gamma, "gamma")):
        a = check_array(arr, name, ndim=1, dtype=dy.dtype, where=where)
        if a.shape != (c,):
            raise ValueError(f"{where}: {name}: expected shape ({c},), got {a.shape}")
        out.append(a)
    return dy.reshape(dy.shape[0], c, -1), xhat.reshape(dy.shape[0], c, -1), out[0], out[1]


def adam_update_args(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step):
    """All four arrays same shape and dtype, C-contiguous; step a positive int."""
    where = "adam_update"
    optim_args(where, param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}, ("exp_avg", "exp_avg_sq"),
               lr=lr, eps=eps, weight_decay=weight_decay)
    check_real(beta1, "beta1", where=where, low=0, high=1, high_open=True)
    check_real(beta2, "beta2", where=where, low=0, high=1, high_open=True)
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or not 1 <= step < 2**63:
        raise ValueError(f"{where}: step: expected an int in [1, 2**63) (1-based), got {step!r}")
