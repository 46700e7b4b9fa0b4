"""nnx.summary: a table of each layer's output shape, parameter count and forward FLOPs."""
import numpy as np

from .graph import Graph
from .layers import AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, Maxout, MaxPool2d
from .module import Module, Sequential


def _flops(m, inputs, y):
    """Forward FLOPs (a multiply-add counts 2); elementwise layers 1 per output element."""
    x = inputs[0]
    if isinstance(m, Linear):
        return 2 * (x.size // m.in_features) * m.in_features * m.out_features
    if isinstance(m, Maxout):
        return 2 * x.shape[0] * m.in_features * m.out_features * m.pieces
    if isinstance(m, Conv2d):
        return 2 * y.size * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, MaxPool2d | AvgPool2d):
        return y.size * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, BatchNorm1d | BatchNorm2d):
        return 2 * y.size
    if isinstance(m, Flatten):
        return 0
    return int(np.size(y)) * max(1, len(inputs) - 1) if m._modules == {} else None


class Summary:
    """Rows ``(name, type, output shape, parameters, FLOPs)`` and totals; prints as a table."""

    def __init__(self, rows, total_params, total_flops):
        self.rows, self.total_params, self.total_flops = rows, total_params, total_flops

    def __str__(self):
        head = ("layer", "type", "output shape", "params", "FLOPs")
        body = [(n, t, str(s), f"{p:,}", f"{f:,}") for n, t, s, p, f in self.rows]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(5)]
        line = "  ".join("-" * w for w in widths)
        fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
        out = [fmt.format(*head), line, *(fmt.format(*r) for r in body), line,
               f"total parameters: {self.total_params:,}    total forward FLOPs: {self.total_flops:,}"]
        return "\n".join(out)

    __repr__ = __str__


def summary(model, input_shape, *, dtype=None, print_table=True):
    """Run ``model`` once on zeros of ``input_shape`` (batch 1 is prepended if the model refuses
    the shape as given) and tabulate its layers. Returns a :class:`Summary` (and prints it)."""
    if not isinstance(model, Module):
        raise TypeError(f"summary: model: expected an nnx.Module, got {type(model).__name__}")
    if dtype is None:
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None else np.float32
    rows = []
    leaves = dict(model.named_modules()) if isinstance(model, Sequential | Graph) else {"": model}
    wrapped = {}
    for name, m in leaves.items():
        if m is model and isinstance(model, Sequential | Graph):
            continue
        orig = m.forward

        def spy(*xs, _m=m, _orig=orig, _name=name, **kw):
            y = _orig(*xs, **kw)
            f = _flops(_m, xs, y)
            if f is not None:
                rows.append((_name or type(_m).__name__, type(_m).__name__, tuple(np.shape(y)),
                             _m.num_parameters(), int(f)))
            return y
        wrapped[m] = orig
        object.__setattr__(m, "forward", spy)
    was_training = model.training
    # one row per module: run Linear/Conv2d and their ReLU separately, not fused
    fused = {m: m.fuse_linear_relu for m in model.modules() if isinstance(m, Sequential)}
    for m in fused:
        m.fuse_linear_relu = False
    model.eval()
    try:
        shape = tuple(int(s) for s in input_shape)
        try:
            model(np.zeros(shape, dtype))
        except ValueError:
            rows.clear()
            model(np.zeros((1, *shape), dtype))
    finally:
        for m in wrapped:
            object.__delattr__(m, "forward")
        for m, flag in fused.items():
            m.fuse_linear_relu = flag
        model.train(was_training)
    result = Summary(rows, model.num_parameters(), sum(r[4] for r in rows))
    if print_table:
        print(result)
    return result
