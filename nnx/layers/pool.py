"""Max and average pooling layers with torch's arguments: padding, ceil_mode and (average)
count_include_pad. The kernels pool full windows of an unpadded input; padding and ceil_mode's
last partial window are a border around the input (-inf for max, zeros for average, whose
divisor is then corrected per output position), so the kernels stay as they are."""
import numpy as np

from .. import kernels
from ..kernels import pair
from ..module import Module
from .pad import crop2d, pad2d


def _out_size(size, k, s, p, ceil):
    """torch's output size of one axis (a ceil window must start inside the input or its padding)."""
    span = size + 2 * p
    if ceil:
        out = -(-(span - k) // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return (span - k) // s + 1


class _Pool2d(Module):
    _border = 0.0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)
        self.padding = pair(padding, "padding", name, minimum=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"{name}: padding: expected at most half the kernel size {self.kernel_size}, got "
                             f"{self.padding} (as torch)")
        if not isinstance(ceil_mode, bool | np.bool_):
            raise TypeError(f"{name}: ceil_mode: expected a bool, got {ceil_mode!r}")
        self.ceil_mode = bool(ceil_mode)
        self._cache = None

    def _check(self, x):
        if getattr(x, "ndim", None) != 4:
            raise ValueError(f"{type(self).__name__}.forward: expected 4-D input (N, C, H, W), "
                             f"got shape {getattr(x, 'shape', type(x).__name__)}")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(f"{type(self).__name__}.forward: input of shape {x.shape} is smaller than the kernel "
                             f"{self.kernel_size} (padding {self.padding})")

    def _sizes(self, h, w):
        return tuple(_out_size(n, k, s, p, self.ceil_mode)
                     for n, k, s, p in zip((h, w), self.kernel_size, self.stride, self.padding, strict=True))

    def _borders(self, h, w):
        """(top, bottom, left, right) around the input: the padding, and at the end what the last
        window of ceil_mode reaches beyond it."""
        out = []
        for n, k, s, p, o in zip((h, w), self.kernel_size, self.stride, self.padding, self._sizes(h, w), strict=True):
            out += [p, max((o - 1) * s + k - n - p, p)]
        return tuple(out)

    def _padded(self, x):
        return pad2d(x, *self._borders(*x.shape[2:]), self._border)

    def _crop(self, dxp, shape):
        top, _, left, _ = self._borders(*shape[2:])
        return crop2d(dxp, shape, top, left)

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        return (n, c, *self._sizes(h, w))

    def flops(self, input_shape):
        out = 1
        for s in self.output_shape(input_shape):
            out *= s
        return out * self.kernel_size[0] * self.kernel_size[1]

    def _onnx_attrs(self):
        (ph, pw) = self.padding
        return {"kernel_shape": list(self.kernel_size), "strides": list(self.stride), "pads": [ph, pw, ph, pw],
                "ceil_mode": int(self.ceil_mode)}

    def onnx(self, writer, x, prefix):
        return writer.node(self._onnx_op, [x], prefix, **self._onnx_attrs())

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "ceil_mode": self.ceil_mode}

    def extra_repr(self):
        extra = f", padding={self.padding}" if any(self.padding) else ""
        return f"kernel_size={self.kernel_size}, stride={self.stride}{extra}" + (", ceil_mode=True" if self.ceil_mode
                                                                                  else "")


class MaxPool2d(_Pool2d):
    """Max over (kh, kw) windows; stride defaults to the kernel size; ``padding`` (at most half
    the kernel, as torch) pads with -inf, ``ceil_mode`` keeps a last partial window. Caches the
    argmax (first maximum on ties, NaN wins, as torch) and the shapes."""

    _onnx_op = "MaxPool"
    _border = -np.inf

    def forward(self, x):
        self._check(x)
        xp = self._padded(x)
        y, argmax = kernels.current().maxpool2d_forward(xp, self.kernel_size, self.stride)
        self._cache = (argmax, xp.shape, x.shape) if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        argmax, padded, shape = self._need_cache(self._cache)
        dxp = kernels.current().maxpool2d_backward(grad_out, argmax, padded)
        return dxp if padded == shape else self._crop(dxp, shape)


class AvgPool2d(_Pool2d):
    """Mean over (kh, kw) windows; stride defaults to the kernel size. ``padding`` (at most half
    the kernel) pads with zeros, which the mean counts when ``count_include_pad`` (torch's
    default) and leaves out otherwise; ``ceil_mode`` keeps a last partial window, averaged over
    the part of it inside the (padded) input. Caches the input shape."""

    _onnx_op = "AveragePool"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        if not isinstance(count_include_pad, bool | np.bool_):
            raise TypeError(f"AvgPool2d: count_include_pad: expected a bool, got {count_include_pad!r}")
        self.count_include_pad = bool(count_include_pad)

    def _scale(self, h, w, dtype):
        """kh * kw over each output position's divisor (torch's), or None where they are all equal."""
        counts = []
        for n, k, s, p, o in zip((h, w), self.kernel_size, self.stride, self.padding, self._sizes(h, w), strict=True):
            start = np.arange(o) * s - p
            lo, hi = (-p, n + p) if self.count_include_pad else (0, n)
            counts.append(np.minimum(start + k, hi) - np.maximum(start, lo))
        divisor = np.outer(*counts)
        full = self.kernel_size[0] * self.kernel_size[1]
        return None if (divisor == full).all() else (full / divisor).astype(dtype)

    def forward(self, x):
        self._check(x)
        y = kernels.current().avgpool2d_forward(self._padded(x), self.kernel_size, self.stride)
        scale = self._scale(*x.shape[2:], x.dtype)
        if scale is not None:
            y *= scale
        self._cache = x.shape if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._cache)
        top, bottom, left, right = self._borders(*shape[2:])
        padded = (*shape[:2], shape[2] + top + bottom, shape[3] + left + right)
        scale = self._scale(*shape[2:], grad_out.dtype)
        dy = grad_out if scale is None else np.ascontiguousarray(grad_out * scale)
        dxp = kernels.current().avgpool2d_backward(dy, padded, self.kernel_size, self.stride)
        return dxp if padded == tuple(shape) else self._crop(dxp, shape)

    def _onnx_attrs(self):
        return {**super()._onnx_attrs(), "count_include_pad": int(self.count_include_pad)}

    def get_config(self):
        return {**super().get_config(), "count_include_pad": self.count_include_pad}
