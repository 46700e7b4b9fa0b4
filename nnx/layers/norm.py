"""Batch normalisation with torch's semantics (NumPy arithmetic)."""
import numpy as np

from .._validation import check_array, check_dtype, check_positive_int, check_real
from ..module import Module, Parameter


class _BatchNorm(Module):
    """Shared code: statistics over every axis but the channel axis 1.

    Training: normalise with the batch mean and the *biased* batch variance, and update the
    running estimates with momentum using the *unbiased* variance (torch). Eval: normalise
    with the running estimates. The affine weight starts at 1 and the bias at 0.
    """

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, *, dtype=np.float32, rng=None):
        super().__init__()
        name = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", name)
        self.eps = check_real(eps, "eps", name, low=0, low_open=True)
        self.momentum = check_real(momentum, "momentum", name, low=0, high=1)
        self.dtype = check_dtype(dtype, "dtype", name)
        c = self.num_features
        self.weight = Parameter(np.ones(c, self.dtype)) if affine else None
        self.bias = Parameter(np.zeros(c, self.dtype)) if affine else None
        self.register_buffer("running_mean", np.zeros(c, self.dtype))
        self.register_buffer("running_var", np.ones(c, self.dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        self._cache = None

    def _shape(self, x):
        return (1, self.num_features) + (1,) * (x.ndim - 2)

    def forward(self, x):
        name = type(self).__name__
        x = check_array(x, "x", dtype=self.dtype, where=f"{name}.forward")
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            want = " or ".join(f"{d}-D" for d in self._ndims)
            raise ValueError(f"{name}.forward: expected {want} input with C={self.num_features} on "
                             f"axis 1, got shape {x.shape}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = self._shape(x)
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError(f"{name}.forward: expected more than 1 value per channel in "
                                 f"training mode, got input shape {x.shape}")
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            m = self.dtype.type(self.momentum)
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += m * var * self.dtype.type(n / (n - 1))
            self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        inv = (1 / np.sqrt(var + self.dtype.type(self.eps))).astype(self.dtype)
        xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
        self._cache = (xhat, inv, axes, shape) if self.training else None
        if self.weight is None:
            return xhat
        return xhat * self.weight.data.reshape(shape) + self.bias.data.reshape(shape)

    def backward(self, grad_out):
        xhat, inv, axes, shape = self._need_cache(self._cache)
        dy = check_array(grad_out, "grad_out", dtype=self.dtype, where=f"{type(self).__name__}.backward")
        if dy.shape != xhat.shape:
            raise ValueError(f"{type(self).__name__}.backward: expected grad_out of shape {xhat.shape}, "
                             f"got {dy.shape}")
        if self.weight is not None:
            self.weight.grad += (dy * xhat).sum(axis=axes)
            self.bias.grad += dy.sum(axis=axes)
            dxhat = dy * self.weight.data.reshape(shape)
        else:
            dxhat = dy
        n = dy.size // self.num_features
        # dx = inv/n * (n*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)), sums per channel
        s1 = dxhat.sum(axis=axes).reshape(shape)
        s2 = (dxhat * xhat).sum(axis=axes).reshape(shape)
        return (inv.reshape(shape) / self.dtype.type(n)) * (self.dtype.type(n) * dxhat - s1 - xhat * s2)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel."""

    _ndims = (4,)
