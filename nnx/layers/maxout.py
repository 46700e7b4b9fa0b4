"""Maxout (Goodfellow et al., 2013): the maximum of ``pieces`` affine maps per output."""
import numpy as np

from .. import init, kernels, precision
from .._validation import as_generator, check_array, check_dtype, check_positive_int
from ..module import Module, Parameter


class Maxout(Module):
    """y[:, o] = max_k (x W[o*pieces + k]^T + b[o*pieces + k]).

    Parameters
    ----------
    in_features, out_features, pieces : int
    dtype, rng : as Linear (torch-style uniform init with fan_in = in_features)

    Weight (out_features * pieces, in_features), bias (out_features * pieces,), rows grouped
    by output unit. Caches the input and the winning piece per output.
    """

    def __init__(self, in_features, out_features, pieces, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Maxout")
        self.out_features = check_positive_int(out_features, "out_features", "Maxout")
        self.pieces = check_positive_int(pieces, "pieces", "Maxout")
        self.dtype = check_dtype(dtype, "dtype", "Maxout")
        rng = as_generator(rng, "rng", "Maxout")
        rows = self.out_features * self.pieces
        self.weight = Parameter(init.kaiming_uniform(rng, (rows, self.in_features), self.dtype))
        self.bias = Parameter(init.bias_uniform(rng, self.in_features, rows, self.dtype))
        self._cache = None

    def forward(self, x):
        x = check_array(x, "x", ndim=2, dtype=self.dtype, where="Maxout.forward")
        if x.shape[1] != self.in_features:
            raise ValueError(f"Maxout.forward: expected input (N, {self.in_features}), got shape {x.shape}")
        bf16 = precision.use_bf16(self.dtype)  # under nnx.autocast: bf16 operands, float32 sums
        z = kernels.current().gemm(x, self.weight.data, trans_b=True, bf16=bf16) + self.bias.data
        z = z.reshape(x.shape[0], self.out_features, self.pieces)
        k = z.argmax(axis=2)
        y = np.take_along_axis(z, k[..., None], axis=2)[..., 0]
        self._cache = (x, k, bf16) if self.training else None
        return np.ascontiguousarray(y)

    def backward(self, grad_out, *, input_grad=True):
        x, k, bf16 = self._need_cache(self._cache)
        dy = check_array(grad_out, "grad_out", dtype=self.dtype, where="Maxout.backward")
        if dy.shape != (x.shape[0], self.out_features):
            raise ValueError(f"Maxout.backward: expected grad_out of shape {(x.shape[0], self.out_features)}, "
                             f"got {dy.shape}")
        dz = np.zeros((x.shape[0], self.out_features, self.pieces), self.dtype)
        np.put_along_axis(dz, k[..., None], dy[..., None], axis=2)
        dz = dz.reshape(x.shape[0], -1)
        k = kernels.current()
        self.weight.accumulate(lambda g, beta: k.gemm(dz, x, trans_a=True, out=g, beta=beta, bf16=bf16))
        self.bias.accumulate(dz.sum(axis=0))
        return k.gemm(dz, self.weight.data, bf16=bf16) if input_grad else None

    def output_shape(self, input_shape):
        return (input_shape[0], self.out_features)

    def flops(self, input_shape):
        return 2 * input_shape[0] * self.in_features * self.out_features * self.pieces

    def sample_shape(self):
        return (self.in_features,)

    def onnx(self, writer, x, prefix):
        """Gemm to out * pieces columns, grouped per output: Reshape, then the max of each group."""
        z = writer.node("Gemm", [x, writer.init(prefix + "weight", self.weight.data),
                                 writer.init(prefix + "bias", self.bias.data)], prefix, transB=1)
        shape = writer.init(writer.name(prefix + "shape"), [0, self.out_features, self.pieces], np.int64)
        z = writer.node("Reshape", [z, shape], prefix)
        return writer.node("ReduceMax", [z], prefix, axes=[2], keepdims=0)  # axes an attribute until opset 18

    @classmethod
    def config_size(cls, config):
        i, o, k = (check_positive_int(config[n], n, "Maxout") for n in ("in_features", "out_features", "pieces"))
        return o * k * (i + 1)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "pieces": self.pieces, "dtype": self.dtype.name}

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"
