"""Argument checks shared by every entry point.

Each check raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, bad
value) with a message naming the argument, what was expected and what came.
"""
import math
import numbers
import operator
import os
import sys

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_stacklevel():
    """The ``stacklevel`` of ``warnings.warn`` (called by the function calling this) that points at
    the first frame outside nnx: a library warning names the user's line, however deep in nnx it
    was raised."""
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _where(name, where):
    return f"{where}: {name}" if where else name


def check_dtype(dtype, name="dtype", where=""):
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ``TypeError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{_where(name, where)}: expected float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{_where(name, where)}: expected float32 or float64, got {dt}")
    return dt


def check_array(x, name, ndim=None, dtype=None, where="", min_ndim=None):
    """Validate a float array and return it C-contiguous (copied only when it must be).

    Parameters
    ----------
    x : array_like
        Must already be a float32/float64 ``ndarray``: nothing is cast silently.
    ndim : int or tuple of int, optional
        Allowed ranks.
    dtype : dtype, optional
        Required dtype (e.g. the dtype of the other operand or the layer's weights).
    """
    label = _where(name, where)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{label}: expected a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{label}: expected a float32 or float64 array, got dtype {x.dtype}; "
            f"convert with x.astype(np.float32)"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{label}: expected a {want} array, got {x.ndim}-D with shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{label}: expected at least {min_ndim}-D, got shape {x.shape}")
    if dtype is not None and x.dtype != np.dtype(dtype):
        raise TypeError(
            f"{label}: dtype mismatch, expected {np.dtype(dtype)}, got {x.dtype}; "
            f"convert the input or build the layer with dtype={x.dtype}"
        )
    return np.ascontiguousarray(x)


def check_labels(labels, n_samples, n_classes, name="labels", where=""):
    """Validate integer class indices in ``[0, n_classes)``; return them as C-contiguous int64."""
    label = _where(name, where)
    if not isinstance(labels, np.ndarray):
        labels = np.asarray(labels)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{label}: expected integer class indices, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{label}: expected a 1-D array of class indices, got shape {labels.shape}")
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{label}: batch size mismatch, expected {n_samples} labels (one per row), "
            f"got {labels.shape[0]}"
        )
    if labels.size:
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{label}: class index out of range [0, {n_classes}), got {bad}")
    return np.ascontiguousarray(labels, dtype=np.int64)


def check_positive_int(value, name, where=""):
    """Return ``value`` as int if it is an integer >= 1 (bools are refused)."""
    label = _where(name, where)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{label}: expected a positive integer, got {value!r}")
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{label}: expected a positive integer, got {value}")
    return value


def check_real(value, name, where="", low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as float if it is a finite real number within the given bounds."""
    # Optimizer steps check several scalars per parameter: plain floats and ints take the cheap
    # path (no ABC isinstance, math.isfinite), and the message is only built on failure.
    if type(value) is not float and (isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{_where(name, where)}: expected a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{_where(name, where)}: expected a finite number, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{_where(name, where)}: expected a value {op} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{_where(name, where)}: expected a value {op} {high}, got {value}")
    return value


def as_generator(rng, name="rng", where=""):
    """Return a ``numpy.random.Generator`` from None, an int seed or a Generator."""
    if rng is None or isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"{_where(name, where)}: expected None, an int seed or a numpy.random.Generator, "
        f"got {type(rng).__name__}"
    )
