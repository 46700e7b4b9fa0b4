"""Softmax and LogSoftmax as layers (a model's probabilities or log-probabilities as its output,
as torch's ``nn.Softmax(dim)`` and ONNX's Softmax/LogSoftmax). For training, prefer logits and
``SoftmaxCrossEntropy``: the fused loss is faster and exact where log(softmax) underflows."""
import numpy as np

from .. import kernels
from ..module import Elementwise, Module


def _check_axis(axis, where):
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"{where}: axis: expected an int, got {axis!r}")
    return int(axis)


class _RowWise(Elementwise, Module):
    """A row-wise kernel (``kernels.softmax`` or ``log_softmax``) along ``axis`` of any shape."""

    KERNEL = ""
    ONNX_OP = ""

    def __init__(self, axis=1):
        super().__init__()
        self.axis = _check_axis(axis, type(self).__name__)
        self._y = None

    def _rows(self, x, where):
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise ValueError(f"{where}: expected an array, got {getattr(x, 'shape', type(x).__name__)}")
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"{where}: axis {self.axis} is out of range for an input of shape {x.shape}")
        moved = np.moveaxis(x, self.axis, -1)
        return np.ascontiguousarray(moved).reshape(-1, x.shape[self.axis]), moved.shape

    def forward(self, x):
        where = f"{type(self).__name__}.forward"
        rows, moved = self._rows(x, where)
        y = getattr(kernels.current(), self.KERNEL)(rows)
        y = np.moveaxis(y.reshape(moved), -1, self.axis)
        self._y = y if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        y = self._need_cache(self._y)
        if np.shape(grad_out) != y.shape:
            raise ValueError(f"{type(self).__name__}.backward: expected grad_out of shape {y.shape}, got "
                             f"{np.shape(grad_out)}")
        return self._grad(np.asarray(grad_out, y.dtype), y)

    def onnx(self, writer, x, prefix):
        return writer.node(self.ONNX_OP, [x], prefix, axis=self.axis)

    def flops(self, input_shape):
        return 3 * int(np.prod(input_shape))  # exp, sum, divide (or log) per element

    def get_config(self):
        return {"axis": self.axis}

    def extra_repr(self):
        return f"axis={self.axis}"


class Softmax(_RowWise):
    """y = exp(x) / sum(exp(x)) along ``axis`` (default 1, the classes of (N, C) scores).
    Caches y: dx = y * (dy - sum(dy * y))."""

    KERNEL, ONNX_OP = "softmax", "Softmax"

    def _grad(self, dy, y):
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(_RowWise):
    """y = x - log(sum(exp(x))) along ``axis`` (default 1). Caches y: dx = dy - exp(y) * sum(dy)."""

    KERNEL, ONNX_OP = "log_softmax", "LogSoftmax"

    def _grad(self, dy, y):
        return dy - np.exp(y) * dy.sum(axis=self.axis, keepdims=True)
