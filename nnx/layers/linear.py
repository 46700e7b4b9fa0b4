"""Fully connected layer."""
import numpy as np

from .. import init, kernels, precision
from .._validation import as_generator, check_array, check_dtype, check_positive_int
from ..module import Module, Parameter
from .activations import FusesReLU


class Linear(FusesReLU, Module):
    """y = x W^T + b, with torch's layout and default initialisation.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    dtype : float32 (default) or float64
    rng : numpy.random.Generator or int seed, optional

    Input (*, in_features) -> output (*, out_features). Training mode caches the input.
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        if not isinstance(bias, bool):
            raise TypeError(f"Linear: bias: expected a bool, got {bias!r}")
        self.dtype = check_dtype(dtype, "dtype", "Linear")
        self.weight = Parameter(np.zeros((self.out_features, self.in_features), self.dtype))
        self.bias = Parameter(np.zeros(self.out_features, self.dtype)) if bias else None
        self._x, self._bf16 = None, False
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """torch's default: kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(in)) bias."""
        rng = as_generator(rng, "rng", "Linear")
        self.weight.data[...] = init.kaiming_uniform(rng, self.weight.shape, self.dtype)
        if self.bias is not None:
            self.bias.data[...] = init.bias_uniform(rng, self.in_features, self.out_features, self.dtype)

    def forward(self, x, relu=False):
        """y = x W^T + b; with ``relu=True``, max(y, 0) from the same pass (the GEMM's fused
        epilogue: what ``fuse`` uses when a ReLU follows)."""
        x = check_array(x, "x", min_ndim=1, dtype=self.dtype, where="Linear.forward")
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear.forward: expected input (*, {self.in_features}), got shape {x.shape}"
            )
        x2 = x.reshape(-1, self.in_features)
        bias = self.bias.data if self.bias is not None else None
        bf16 = precision.use_bf16(self.dtype)  # under nnx.autocast: bf16 operands, float32 sums
        y = kernels.current().gemm(x2, self.weight.data, trans_b=True, bias=bias, relu=relu, bf16=bf16)
        self._x, self._bf16 = (x2 if self.training else None), bf16
        self._in_shape = x.shape
        return y.reshape(*x.shape[:-1], self.out_features)

    _fused_forward = forward

    def backward(self, grad_out, *, input_grad=True):
        """dW += dy^T x, db += sum(dy); returns dx = dy W (None with ``input_grad=False``)."""
        x2 = self._need_cache(self._x)
        dy = check_array(grad_out, "grad_out", dtype=self.dtype, where="Linear.backward")
        expect = (*self._in_shape[:-1], self.out_features)
        if dy.shape != expect:
            raise ValueError(f"Linear.backward: expected grad_out of shape {expect}, got {dy.shape}")
        dy2 = dy.reshape(-1, self.out_features)
        k, bf16 = kernels.current(), self._bf16  # the forward's precision
        self.weight.accumulate(lambda g, beta: k.gemm(dy2, x2, trans_a=True, out=g, beta=beta, bf16=bf16))
        if self.bias is not None:
            self.bias.accumulate(dy2.sum(axis=0))
        return k.gemm(dy2, self.weight.data, bf16=bf16).reshape(self._in_shape) if input_grad else None

    def output_shape(self, input_shape):
        return (*input_shape[:-1], self.out_features)

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape[:-1])) * self.in_features * self.out_features

    def sample_shape(self):
        return (self.in_features,)

    def onnx(self, writer, x, prefix):
        ins = [x, writer.init(prefix + "weight", self.weight.data)]
        if self.bias is not None:
            ins.append(writer.init(prefix + "bias", self.bias.data))
        return writer.node("Gemm", ins, prefix, transB=1)

    @classmethod
    def config_size(cls, config):
        i, o = (check_positive_int(config[k], k, "Linear") for k in ("in_features", "out_features"))
        return i * o + (o if config.get("bias", True) else 0)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": self.dtype.name}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
