"""Pad2d: a constant border around the two spatial axes of (N, C, H, W) input (torch's
``ConstantPad2d``, ONNX's Pad). With ``value=-inf`` before a MaxPool2d it is a padded max pool;
with 0 before an AvgPool2d, an average pool that counts the padding; before a Conv2d, padding
that may differ between the two sides (ONNX's SAME_UPPER/SAME_LOWER)."""
import math
import numbers

import numpy as np

from ..module import Module


def _padding(padding):
    """(left, right, top, bottom) from an int or a 4-sequence of ints >= 0 (torch's order)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = (padding,) * 4
    try:
        out = tuple(int(p) for p in padding)
        ok = len(out) == 4 and all(not isinstance(p, bool) and p == int(p) for p in padding)
    except (TypeError, ValueError):
        ok = False
    if not ok or min(out) < 0:
        raise ValueError(f"Pad2d: padding: expected an int or (left, right, top, bottom) of ints >= 0, got {padding!r}")
    return out


def pad2d(x, top, bottom, left, right, value):
    """(N, C, H, W) ``x`` inside a border of ``value`` (a new array; ``x`` itself when no border)."""
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    y = np.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    y[:, :, top:top + h, left:left + w] = x
    return y


def crop2d(dy, shape, top, left):
    """The (N, C, H, W) ``shape`` window of ``dy`` at (top, left): backward of :func:`pad2d`."""
    return np.ascontiguousarray(dy[:, :, top:top + shape[2], left:left + shape[3]])


class Pad2d(Module):
    """The input with ``padding`` = (left, right, top, bottom) columns and rows of ``value`` around
    its last two axes (an int pads every side alike). ``value`` may be -inf or inf (not NaN).
    Backward crops dy back to the input's size. Caches the input's shape."""

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = _padding(padding)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise ValueError(f"Pad2d: value: expected a number (inf allowed), got {value!r}")
        self.value = float(value)
        self._shape = None

    def forward(self, x):
        if getattr(x, "ndim", None) != 4:
            raise ValueError(f"Pad2d.forward: expected 4-D input (N, C, H, W), got shape "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        left, right, top, bottom = self.padding
        self._shape = x.shape if self.training else None
        return np.array(pad2d(x, top, bottom, left, right, self.value), copy=True)

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._shape)
        left, _, top, _ = self.padding
        if getattr(grad_out, "shape", None) != self.output_shape(shape):
            raise ValueError(f"Pad2d.backward: expected grad_out of shape {self.output_shape(shape)}, got "
                             f"{getattr(grad_out, 'shape', type(grad_out).__name__)}")
        return np.array(crop2d(grad_out, shape, top, left), copy=True)

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        left, right, top, bottom = self.padding
        return (n, c, h + top + bottom, w + left + right)

    def flops(self, input_shape):
        return 0  # a copy

    def onnx(self, writer, x, prefix):
        left, right, top, bottom = self.padding
        pads = writer.init(prefix + "pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), dtype=np.int64)
        value = writer.init(prefix + "value", np.asarray(self.value))
        return writer.node("Pad", [x, pads, value], prefix, mode="constant")

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"
