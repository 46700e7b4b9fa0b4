"""Activation layers. Each keeps, in training mode, only what its backward needs."""
import numpy as np

from .. import kernels
from .._validation import check_real
from ..module import Elementwise, Module


class FusesReLU:
    """Mixin of a layer whose ``forward(x, relu=True)`` applies ReLU in its own output pass: it
    fuses with a ``ReLU`` that follows it. A subclass that overrides ``forward`` (recorded by
    the layer as ``_fused_forward``) is not fused, as its forward may not honour ``relu=``."""

    def fuse(self, next_module):
        if type(next_module) is not ReLU or type(self).forward is not type(self)._fused_forward:
            return None
        return lambda x: next_module.forward_rectified(self.forward(x, relu=True))


class ReLU(Elementwise, Module):
    """y = max(x, 0), any shape. Caches the bool mask ``x > 0`` (not x) for backward."""

    def __init__(self):
        super().__init__()
        self._mask = None

    def forward(self, x):
        y, mask = kernels.current().relu_forward(x)
        self._mask = mask if self.training else None
        return y

    def onnx(self, writer, x, prefix):
        return writer.node("Relu", [x], prefix)

    def backward(self, grad_out, *, input_grad=True):
        mask = self._need_cache(self._mask)
        return kernels.current().relu_backward(grad_out, mask)

    def forward_rectified(self, y):
        """Take ``y`` that a fused kernel already rectified (``Linear``/``Conv2d.forward(x, relu=True)``):
        keep the mask ``y > 0`` (the same as ``x > 0``) for backward and return ``y``."""
        self._mask = (y > 0) if self.training else None
        return y


class Sigmoid(Elementwise, Module):
    """y = 1 / (1 + exp(-x)), any shape. Caches y (the derivative is y * (1 - y))."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        y = kernels.current().sigmoid_forward(x)
        self._y = y if self.training else None
        return y

    def onnx(self, writer, x, prefix):
        return writer.node("Sigmoid", [x], prefix)

    def backward(self, grad_out, *, input_grad=True):
        return kernels.current().sigmoid_backward(grad_out, self._need_cache(self._y))


class Tanh(Elementwise, Module):
    """y = tanh(x), any shape. Caches y (the derivative is 1 - y^2)."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        y = kernels.current().tanh_forward(x)
        self._y = y if self.training else None
        return y

    def onnx(self, writer, x, prefix):
        return writer.node("Tanh", [x], prefix)

    def backward(self, grad_out, *, input_grad=True):
        return kernels.current().tanh_backward(grad_out, self._need_cache(self._y))


class LeakyReLU(Elementwise, Module):
    """y = x if x > 0 else negative_slope * x (torch's default slope 0.01). Caches x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_real(negative_slope, "negative_slope", "LeakyReLU")
        self._x = None

    def forward(self, x):
        k = kernels.current()
        y = k.leaky_relu_forward(x, self.negative_slope)
        self._x = x if self.training else None
        return y

    def onnx(self, writer, x, prefix):
        return writer.node("LeakyRelu", [x], prefix, alpha=float(self.negative_slope))

    def backward(self, grad_out, *, input_grad=True):
        return kernels.current().leaky_relu_backward(grad_out, self._need_cache(self._x), self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Elementwise, Module):
    """y = x if x > 0 else alpha * (exp(x) - 1) (torch's default alpha 1). Caches x and y."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = check_real(alpha, "alpha", "ELU")
        self._cache = None

    def forward(self, x):
        y = kernels.current().elu_forward(x, self.alpha)
        self._cache = (x, y) if self.training else None
        return y

    def onnx(self, writer, x, prefix):
        return writer.node("Elu", [x], prefix, alpha=float(self.alpha))

    def backward(self, grad_out, *, input_grad=True):
        x, y = self._need_cache(self._cache)
        return kernels.current().elu_backward(grad_out, x, y, self.alpha)

    def get_config(self):
        return {"alpha": self.alpha}

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Clip(Elementwise, Module):
    """y = min(max(x, min), max), any shape (torch's ``clamp``, ``ReLU6`` is ``Clip(0, 6)``; ONNX's
    Clip). Either bound may be None. Caches the bool mask of where x is within the bounds
    (inclusive, as torch's clamp): there dx = dy, elsewhere 0."""

    def __init__(self, min=None, max=None):  # noqa: A002  (torch's and ONNX's names)
        super().__init__()
        self.min = None if min is None else check_real(min, "min", "Clip")
        self.max = None if max is None else check_real(max, "max", "Clip")
        if self.min is None and self.max is None:
            raise ValueError("Clip: min, max: expected at least one bound")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"Clip: min: expected min <= max, got min={self.min}, max={self.max}")
        self._mask = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise TypeError(f"Clip.forward: expected a float array, got {getattr(x, 'dtype', type(x).__name__)}")
        y = np.clip(x, self.min, self.max)
        if self.training:
            inside = np.ones(x.shape, bool)
            if self.min is not None:
                inside &= x >= self.min
            if self.max is not None:
                inside &= x <= self.max
            self._mask = inside
        else:
            self._mask = None
        return y

    def backward(self, grad_out, *, input_grad=True):
        mask = self._need_cache(self._mask)
        if np.shape(grad_out) != mask.shape:
            raise ValueError(f"Clip.backward: expected grad_out of shape {mask.shape}, got {np.shape(grad_out)}")
        return np.where(mask, grad_out, 0).astype(np.asarray(grad_out).dtype, copy=False)

    def onnx(self, writer, x, prefix):
        bounds = [writer.init(prefix + name, np.asarray(v)) if v is not None else ""
                  for name, v in (("min", self.min), ("max", self.max))]
        while bounds[-1] == "":
            bounds.pop()
        return writer.node("Clip", [x, *bounds], prefix)

    def get_config(self):
        return {"min": self.min, "max": self.max}

    def extra_repr(self):
        return f"min={self.min}, max={self.max}"
