"""Max and average pooling layers (no padding, floor mode, as torch's defaults)."""
from .. import kernels
from ..kernels import pair
from ..module import Module


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)
        self._cache = None

    def _check(self, x):
        if getattr(x, "ndim", None) != 4:
            raise ValueError(f"{type(self).__name__}.forward: expected 4-D input (N, C, H, W), "
                             f"got shape {getattr(x, 'shape', type(x).__name__)}")

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def flops(self, input_shape):
        out = 1
        for s in self.output_shape(input_shape):
            out *= s
        return out * self.kernel_size[0] * self.kernel_size[1]

    def onnx(self, writer, x, prefix):
        return writer.node(self._onnx_op, [x], prefix, kernel_shape=list(self.kernel_size), strides=list(self.stride))

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Max over (kh, kw) windows; stride defaults to the kernel size. Caches the argmax
    (first maximum on ties, NaN wins, as torch) and the input shape."""

    _onnx_op = "MaxPool"

    def forward(self, x):
        self._check(x)
        y, argmax = kernels.current().maxpool2d_forward(x, self.kernel_size, self.stride)
        self._cache = (argmax, x.shape) if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        argmax, shape = self._need_cache(self._cache)
        return kernels.current().maxpool2d_backward(grad_out, argmax, shape)


class AvgPool2d(_Pool2d):
    """Mean over (kh, kw) windows; stride defaults to the kernel size. Caches the input shape."""

    _onnx_op = "AveragePool"

    def forward(self, x):
        self._check(x)
        y = kernels.current().avgpool2d_forward(x, self.kernel_size, self.stride)
        self._cache = x.shape if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._cache)
        return kernels.current().avgpool2d_backward(grad_out, shape, self.kernel_size, self.stride)
