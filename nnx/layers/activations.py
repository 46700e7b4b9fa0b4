"""Activation layers. Each keeps, in training mode, only what its backward needs."""
from .. import _config
from ..module import Module


class ReLU(Module):
    """y = max(x, 0), any shape. Caches the bool mask ``x > 0`` (not x) for backward."""

    def __init__(self):
        super().__init__()
        self._mask = None

    def forward(self, x):
        y, mask = _config.kernels().relu_forward(x)
        self._mask = mask if self.training else None
        return y

    def backward(self, grad_out):
        mask = self._need_cache(self._mask)
        return _config.kernels().relu_backward(grad_out, mask)
