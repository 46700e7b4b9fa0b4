"""Inverted dropout."""
import numpy as np

from .._validation import as_generator, check_array, check_real
from ..module import Elementwise, Module


class Dropout(Elementwise, Module):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` in
    training mode; identity in eval mode (torch's inverted dropout). Caches the scaled mask.

    Parameters
    ----------
    p : float in [0, 1] (default 0.5)
    rng : numpy.random.Generator or int seed, optional
        Source of the masks: the same seed gives the same masks.

    ``reuse_mask = True`` makes forward reuse the last mask while the input shape is
    unchanged (for finite-difference checks, which call forward many times).
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = check_real(p, "p", "Dropout", low=0, high=1)
        self.rng = as_generator(rng, "rng", "Dropout")
        self.reuse_mask = False
        self._mask = None

    def forward(self, x):
        x = check_array(x, "x", where="Dropout.forward")
        if not self.training or self.p == 0:
            self._mask = None
            return x.copy() if self.training else x
        if not (self.reuse_mask and self._mask is not None and self._mask.shape == x.shape
                and self._mask.dtype == x.dtype):
            keep = self.rng.random(x.shape) >= self.p
            scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
            self._mask = keep.astype(x.dtype) * x.dtype.type(scale)
        return x * self._mask

    def backward(self, grad_out, *, input_grad=True):
        if self.training and self.p == 0:
            return np.array(grad_out, copy=True)
        mask = self._need_cache(self._mask)
        return grad_out * mask

    draws_random = True

    def onnx(self, writer, x, prefix):
        return x  # the inference form: the identity

    def set_generator(self, rng):
        self.rng = as_generator(rng, "rng", "Dropout.set_generator")

    def get_generator(self):
        return self.rng

    def get_config(self):
        return {"p": self.p}

    def extra_repr(self):
        return f"p={self.p}"
