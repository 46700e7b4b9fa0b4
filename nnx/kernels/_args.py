"""Argument checks shared by the three tiers, so every tier refuses the same bad input with
the same message before any arithmetic (and, for the compiled tier, before any nogil code)."""
import numpy as np

from .._validation import check_array, check_labels, check_real


def gemm_args(a, b, trans_a, trans_b, out, beta):
    """Validate gemm's arguments; return ``(a, b, m, n, k, out, beta)``."""
    where = "gemm"
    a = check_array(a, "a", ndim=2, where=where)
    b = check_array(b, "b", ndim=2, dtype=a.dtype, where=where)
    for flag, name in ((trans_a, "trans_a"), (trans_b, "trans_b")):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{where}: {name}: expected a bool, got {flag!r}")
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
        check_out(out, (m, n), a.dtype, where)
    return a, b, m, n, k, out, beta


def check_out(out, shape, dtype, where, name="out"):
    """An output array must match exactly: it is written in place, never reallocated."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{where}: {name}: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{where}: {name}: expected dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{where}: {name}: expected shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{where}: {name}: expected a writeable C-contiguous array")


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


def sgd_update_args(param, grad, momentum_buffer, momentum=0.0, where="sgd_update"):
    """param and grad (and the buffer when given) are same-shape, same-dtype, C-contiguous."""
    if momentum != 0 and momentum_buffer is None:
        raise ValueError(f"{where}: momentum_buffer: required when momentum != 0")
    for arr, name in ((param, "param"), (grad, "grad"), (momentum_buffer, "momentum_buffer")):
        if arr is None and name == "momentum_buffer":
            continue
        if not isinstance(arr, np.ndarray) or arr.dtype not in (np.float32, np.float64):
            raise TypeError(f"{where}: {name}: expected a float32/float64 ndarray")
        if arr.shape != param.shape or arr.dtype != param.dtype:
            raise ValueError(f"{where}: {name}: expected shape {param.shape} and dtype "
                             f"{param.dtype}, got {arr.shape} {arr.dtype}")
        if not arr.flags.c_contiguous or (name != "grad" and not arr.flags.writeable):
            raise ValueError(f"{where}: {name}: expected a writeable C-contiguous array")
