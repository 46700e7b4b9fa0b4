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


def reshaped(shape, target, where="Reshape"):
    """``target`` with ONNX's and torch's conventions resolved against ``shape``: a 0 copies that
    dimension of the input, one -1 takes what is left. ValueError when the sizes cannot match."""
    out = [int(shape[i]) if t == 0 and i < len(shape) else int(t) for i, t in enumerate(target)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise ValueError(f"{where}: shape {list(target)}: at most one -1 and no other negative size")
    total = int(np.prod(shape))
    known = int(np.prod([d for d in out if d != -1]))
    if -1 in out:
        if known == 0 or total % known:
            raise ValueError(f"{where}: cannot reshape {tuple(shape)} ({total} values) to {list(target)}")
        out[out.index(-1)] = total // known
    elif known != total:
        raise ValueError(f"{where}: cannot reshape {tuple(shape)} ({total} values) to {list(target)}")
    return tuple(out)


class Reshape(Module):
    """The input reshaped to ``shape``, the whole shape, batch axis included (as ``x.reshape``,
    torch's ``view`` and ONNX's ``Reshape``): a 0 keeps that dimension of the input, one -1 takes
    what is left. ``Reshape((0, -1))`` is ``Flatten()``; ``Reshape((-1, 30))`` may change the
    batch size. Backward restores the input's shape.
    """

    def __init__(self, shape):
        super().__init__()
        try:
            self.shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise TypeError(f"Reshape: shape: expected a sequence of ints, got {shape!r}") from None
        if not self.shape or self.shape.count(-1) > 1 or any(d < -1 for d in self.shape):
            raise ValueError(f"Reshape: shape: expected sizes >= 0 and at most one -1, got {list(self.shape)}")
        self._shape = None

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"Reshape.forward: expected an ndarray, got {type(x).__name__}")
        out = reshaped(x.shape, self.shape, "Reshape.forward")
        self._shape = x.shape if self.training else None
        return np.ascontiguousarray(x).reshape(out)

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._shape)
        if int(np.prod(np.shape(grad_out))) != int(np.prod(shape)):
            raise ValueError(f"Reshape.backward: expected grad_out with {int(np.prod(shape))} values, got shape "
                             f"{np.shape(grad_out)}")
        return np.ascontiguousarray(grad_out).reshape(shape)

    def output_shape(self, input_shape):
        return reshaped(input_shape, self.shape)

    def flops(self, input_shape):
        return 0  # a reshape

    def onnx(self, writer, x, prefix):
        shape = writer.init(prefix + "shape", np.array(self.shape, np.int64), dtype=np.int64)
        return writer.node("Reshape", [x, shape], prefix)

    def get_config(self):
        return {"shape": list(self.shape)}

    def extra_repr(self):
        return f"shape={self.shape}"


class Permute(Module):
    """The input's axes reordered, batch axis included (torch's ``x.permute(*dims)``,
    torchvision's ``Permute(dims)``, ONNX's Transpose): output axis i is input axis ``dims[i]``.
    Backward applies the inverse order. Caches the input's shape."""

    def __init__(self, dims):
        super().__init__()
        try:
            dims = tuple(dims)
        except TypeError:
            raise TypeError(f"Permute: dims: expected a sequence of ints, got {dims!r}") from None
        if not dims or any(isinstance(d, bool) or not isinstance(d, int | np.integer) for d in dims) \
                or sorted(int(d) for d in dims) != list(range(len(dims))):
            raise ValueError(f"Permute: dims: expected an order of 0..n-1, got {list(dims)}")
        self.dims = tuple(int(d) for d in dims)
        self._shape = None

    def forward(self, x):
        if getattr(x, "ndim", None) != len(self.dims):
            raise ValueError(f"Permute.forward: expected a {len(self.dims)}-D input for dims {self.dims}, got shape "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        self._shape = x.shape if self.training else None
        return np.ascontiguousarray(np.transpose(x, self.dims))

    def backward(self, grad_out, *, input_grad=True):
        shape = self._need_cache(self._shape)
        if getattr(grad_out, "shape", None) != self.output_shape(shape):
            raise ValueError(f"Permute.backward: expected grad_out of shape {self.output_shape(shape)}, got "
                             f"{getattr(grad_out, 'shape', type(grad_out).__name__)}")
        return np.ascontiguousarray(np.transpose(grad_out, np.argsort(self.dims)))

    def output_shape(self, input_shape):
        return tuple(input_shape[d] for d in self.dims)

    def flops(self, input_shape):
        return 0  # a copy

    def onnx(self, writer, x, prefix):
        return writer.node("Transpose", [x], prefix, perm=list(self.dims))

    def get_config(self):
        return {"dims": list(self.dims)}

    def extra_repr(self):
        return f"dims={self.dims}"
