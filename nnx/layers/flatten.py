"""Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), the bridge from conv layers to Linear."""
import numpy as np

from ..module import Module


class Flatten(Module):
    """Reshape to (N, -1) (a view when the input is contiguous); backward restores the shape."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise ValueError(f"Flatten.forward: expected an array with a batch axis, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        self._shape = x.shape if self.training else None
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def flops(self, input_shape):
        return 0  # a reshape

    def onnx(self, writer, x, prefix):
        return writer.node("Flatten", [x], prefix, axis=1)

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._shape)
        n = int(np.prod(shape[1:]))
        if getattr(grad_out, "shape", None) != (shape[0], n):
            raise ValueError(f"Flatten.backward: expected grad_out of shape {(shape[0], n)}, "
                             f"got {getattr(grad_out, 'shape', type(grad_out).__name__)}")
        return grad_out.reshape(shape)
