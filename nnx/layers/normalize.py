"""Normalize: the input preprocessing a model was trained with, as the model's first layer."""
import numpy as np

from .. import kernels
from .._validation import check_dtype
from ..module import Elementwise, Module, StateDictError


def _values(v, name, dtype):
    """A number or a sequence of numbers as a 1-D array of ``dtype``."""
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"Normalize: {name}: expected a number or a sequence of numbers, got {v!r}") from None
    if a.ndim > 1 or a.size == 0:
        raise ValueError(f"Normalize: {name}: expected a number or one value per channel, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"Normalize: {name}: expected finite values, got {a.tolist()}")
    return a.reshape(-1).astype(dtype)


class Normalize(Elementwise, Module):
    """y = (x - mean) / std per channel (axis 1), with torchvision's ``Normalize`` semantics.

    Put first in a model, it carries the preprocessing the model was trained with, so that
    ``nnx.load`` with ``nnx.evaluate``, ``python -m nnx evaluate`` and ``predict``, and an
    exported ONNX file (Sub, Div) all take raw inputs. ``mean`` and ``std`` are buffers (in
    ``state_dict``), not parameters: nothing is learnt. Backward: ``dx = dy / std``.

    Parameters
    ----------
    mean, std : number or sequence of numbers
        One value for every channel, or one per channel; std > 0.
    dtype : numpy dtype
        float32 (the default) or float64.
    """

    def __init__(self, mean, std, *, dtype=np.float32):
        super().__init__()
        self.dtype = check_dtype(dtype, "dtype", "Normalize")
        mean, std = _values(mean, "mean", self.dtype), _values(std, "std", self.dtype)
        if len(mean) != len(std) and 1 not in (len(mean), len(std)):
            raise ValueError(f"Normalize: mean has {len(mean)} values and std {len(std)}: expected as many, or 1")
        if not (std > 0).all():
            raise ValueError(f"Normalize: std: expected values > 0, got {std.tolist()}")
        c = max(len(mean), len(std))
        self.register_buffer("mean", np.broadcast_to(mean, (c,)).copy())
        self.register_buffer("std", np.broadcast_to(std, (c,)).copy())
        self._shape = None

    def forward(self, x):
        y = kernels.current().normalize_forward(x, self.mean, self.std)
        self._shape = np.shape(x) if self.training else None
        return y

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._shape)
        if np.shape(grad_out) != shape:
            raise ValueError(f"Normalize.backward: expected grad_out of shape {shape}, got {np.shape(grad_out)}")
        return kernels.current().normalize_backward(grad_out, self.std) if input_grad else None

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape))

    def onnx(self, writer, x, prefix):
        """Sub, then Div, by the per-channel constants shaped to broadcast over axis 1."""
        rank = len(writer.shape(x))
        shape = (-1,) + (1,) * (rank - 2) if len(self.mean) > 1 else ()
        mean = writer.init(prefix + "mean", self.mean.reshape(shape))
        std = writer.init(prefix + "std", self.std.reshape(shape))
        return writer.node("Div", [writer.node("Sub", [x, mean], prefix), std], prefix)

    def _check_state(self, state):
        std = state.get("std")
        if std is not None and not (np.isfinite(std).all() and (std > 0).all()):
            raise StateDictError("load_state_dict: Normalize.std: expected finite values > 0")

    @classmethod
    def config_size(cls, config):
        return 2 * max(np.size(config["mean"]), np.size(config["std"]))

    def get_config(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "dtype": self.dtype.name}

    def extra_repr(self):
        def short(a):
            return a[0] if len(set(a)) == 1 else a
        return f"mean={short(self.mean.tolist())}, std={short(self.std.tolist())}"
