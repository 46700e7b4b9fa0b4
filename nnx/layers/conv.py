"""2-D convolution layer."""
import numpy as np

from .. import init, kernels, precision
from .._validation import as_generator, check_array, check_dtype, check_positive_int
from ..kernels import pair
from ..module import Module, Parameter
from .activations import FusesReLU


class Conv2d(FusesReLU, Module):
    """y = conv2d(x, W) + b over NCHW images, with torch's layout and default initialisation.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (kh, kw)
    stride : int or (sh, sw), default 1
    padding : int or (ph, pw), default 0 (zero padding)
    bias : bool
    dtype : float32 (default) or float64
    rng : numpy.random.Generator or int seed, optional

    Weight (out_channels, in_channels, kh, kw), bias (out_channels,). Training mode caches what
    the kernel tier's backward needs (the input; the NumPy tier also its columns).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 dtype=np.float32, rng=None):
        super().__init__()
        where = "Conv2d"
        self.in_channels = check_positive_int(in_channels, "in_channels", where)
        self.out_channels = check_positive_int(out_channels, "out_channels", where)
        self.kernel_size = pair(kernel_size, "kernel_size", where)
        self.stride = pair(stride, "stride", where)
        self.padding = pair(padding, "padding", where, minimum=0)
        if not isinstance(bias, bool):
            raise TypeError(f"{where}: bias: expected a bool, got {bias!r}")
        self.dtype = check_dtype(dtype, "dtype", where)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = Parameter(np.zeros(shape, self.dtype))
        self.bias = Parameter(np.zeros(self.out_channels, self.dtype)) if bias else None
        self._cache = None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """torch's default: kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        rng = as_generator(rng, "rng", "Conv2d")
        self.weight.data[...] = init.kaiming_uniform(rng, self.weight.shape, self.dtype)
        if self.bias is not None:
            fan_in, _ = init.fan_in_and_out(self.weight.shape)
            self.bias.data[...] = init.bias_uniform(rng, fan_in, self.out_channels, self.dtype)

    def forward(self, x, relu=False):
        """y = conv2d(x, W) + b; with ``relu=True``, max(y, 0) from the same copy-out pass (what
        ``fuse`` uses when a ReLU follows)."""
        x = check_array(x, "x", dtype=self.dtype, where="Conv2d.forward")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d.forward: expected 4-D input (N, C, H, W) with C={self.in_channels}, "
                f"got shape {x.shape}"
            )
        y, cache = kernels.current().conv2d_forward(
            x, self.weight.data, None if self.bias is None else self.bias.data,
            self.stride, self.padding, relu=relu, bf16=precision.use_bf16(self.dtype))
        self._cache = cache if self.training else None  # a bf16 cache makes backward bf16 too
        return y

    _fused_forward = forward

    def backward(self, grad_out, *, input_grad=True):
        cache = self._need_cache(self._cache)
        dy = check_array(grad_out, "grad_out", dtype=self.dtype, where="Conv2d.backward")
        dx, dw, db = kernels.current().conv2d_backward(dy, cache, input_grad=input_grad)
        self.weight.accumulate(dw)
        if self.bias is not None:
            self.bias.accumulate(db)
        return dx

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    def flops(self, input_shape):
        out = int(np.prod(self.output_shape(input_shape)))
        return 2 * out * self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def sample_shape(self):
        return (self.in_channels, None, None)  # the image size is not the layer's to say

    def filters(self):
        return self.weight.data

    def onnx(self, writer, x, prefix):
        ins = [x, writer.init(prefix + "weight", self.weight.data)]
        if self.bias is not None:
            ins.append(writer.init(prefix + "bias", self.bias.data))
        pads = [int(p) for p in self.padding] * 2
        return writer.node("Conv", ins, prefix, kernel_shape=list(self.kernel_size), strides=list(self.stride),
                           pads=pads)

    @classmethod
    def config_size(cls, config):
        ic, oc = (check_positive_int(config[k], k, "Conv2d") for k in ("in_channels", "out_channels"))
        kh, kw = pair(config["kernel_size"], "kernel_size", "Conv2d")
        return oc * ic * kh * kw + (oc if config.get("bias", True) else 0)

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "bias": self.bias is not None, "dtype": self.dtype.name}

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")

