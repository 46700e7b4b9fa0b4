"""Batch normalisation with torch's semantics; the training-mode arithmetic is the
``batchnorm_forward`` / ``batchnorm_backward`` kernels of the current tier."""
import numpy as np

from .. import kernels
from .._validation import check_array, check_dtype, check_positive_int, check_real
from ..module import Elementwise, Module, Parameter, StateDictError


class _BatchNorm(Elementwise, Module):
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
        gamma = self.weight.data if self.weight is not None else np.ones(self.num_features, self.dtype)
        beta = self.bias.data if self.bias is not None else np.zeros(self.num_features, self.dtype)
        if not self.training:
            # Eval mode normalises with the running statistics, which are constants: then
            # dx = dy * gamma * invstd and dgamma = sum(dy * xhat). Unlike other layers BatchNorm
            # keeps xhat in eval mode too, so gradients through a network with frozen statistics
            # (fine-tuning, saliency maps) work, as in torch.
            inv = (1 / np.sqrt(self.running_var + self.dtype.type(self.eps))).astype(self.dtype)
            y, xhat = kernels.current().batchnorm_apply(x, self.running_mean, inv, gamma, beta)
            self._cache = ("eval", xhat, inv, gamma)
            return y
        n = x.size // self.num_features
        if n < 2:
            raise ValueError(f"{name}.forward: expected more than 1 value per channel in "
                             f"training mode, got input shape {x.shape}")
        y, xhat, mean, var, inv = kernels.current().batchnorm_forward(x, gamma, beta, self.eps)
        m = self.dtype.type(self.momentum)
        self.running_mean *= 1 - m
        self.running_mean += m * mean.astype(self.dtype)
        self.running_var *= 1 - m
        self.running_var += m * (var * (n / (n - 1))).astype(self.dtype)
        self.num_batches_tracked += 1
        self._cache = ("train", xhat, inv, gamma)
        return y

    def backward(self, grad_out, *, input_grad=True):
        mode, xhat, inv, gamma = self._need_cache(self._cache)
        dy = check_array(grad_out, "grad_out", dtype=self.dtype, where=f"{type(self).__name__}.backward")
        if dy.shape != xhat.shape:
            raise ValueError(f"{type(self).__name__}.backward: expected grad_out of shape {xhat.shape}, "
                             f"got {dy.shape}")
        if mode == "eval":
            axes = (0,) + tuple(range(2, dy.ndim))
            shape = self._shape(dy)
            dgamma, dbeta = (dy * xhat).sum(axis=axes), dy.sum(axis=axes)
            dx = dy * (gamma * inv).reshape(shape)
        else:
            dx, dgamma, dbeta = kernels.current().batchnorm_backward(dy, xhat, inv, gamma)
        if self.weight is not None:
            self.weight.accumulate(dgamma)
            self.bias.accumulate(dbeta)
        return dx if input_grad else None

    @classmethod
    def config_size(cls, config):
        c = check_positive_int(config["num_features"], "num_features", cls.__name__)
        return (2 * c if config.get("affine", True) else 0) + 2 * c + 1

    def _check_state(self, state):
        var = state.get("running_var")
        if var is not None and var.dtype.kind == "f" and not (np.isfinite(var).all() and (var >= 0).all()):
            raise StateDictError(f"load_state_dict: {type(self).__name__}.running_var: expected finite values "
                                 ">= 0 (a variance), got negative or NaN entries")

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape))

    def onnx(self, writer, x, prefix):
        """Inference form: BatchNormalization with the running statistics."""
        c = self.num_features
        scale = self.weight.data if self.weight is not None else np.ones(c)
        bias = self.bias.data if self.bias is not None else np.zeros(c)
        ins = [x, writer.init(prefix + "weight", scale), writer.init(prefix + "bias", bias),
               writer.init(prefix + "running_mean", self.running_mean),
               writer.init(prefix + "running_var", self.running_var)]
        return writer.node("BatchNormalization", ins, prefix, epsilon=float(self.eps))

    def get_config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.weight is not None, "dtype": self.dtype.name}

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel."""

    _ndims = (4,)
