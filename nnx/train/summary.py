"""nnx.summary: a table of each layer's output shape, parameter count and forward FLOPs."""
import numpy as np

from ..graph import Graph
from ..module import Module, Sequential


def _flops(m, inputs):
    """The layer's forward FLOPs on these inputs (``Module.flops``), or None (no row)."""
    return m.flops(*(np.shape(x) for x in inputs))


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


def _walk(m, name, inputs, rows):
    """Run ``m`` on ``inputs`` through the containers' public plans (``Sequential.steps``,
    ``Graph.nodes``), adding a row per leaf module; return its output."""
    if isinstance(m, Sequential):
        names = {id(c): n for n, c in m.named_children()}
        x = inputs[0]
        for run, mods in m.steps():
            if len(mods) == 1:
                x = _walk(mods[0], _join(name, names[id(mods[0])]), (x,), rows)
                continue
            y = run(x)
            kinds = "+".join(type(c).__name__ for c in mods)
            shape = np.shape(x)
            for c in mods:  # each module's FLOPs on its own input (the previous one's output)
                rows.append((_join(name, names[id(c)]), f"{type(c).__name__} (fused: {kinds})", tuple(y.shape),
                             c.num_parameters(), int(c.flops(shape))))
                shape = c.output_shape(shape)
            x = y
        return x
    if isinstance(m, Graph):
        values = dict(zip(m.input_names(), inputs, strict=True))
        for node, module, parents in m.nodes():
            values[node] = _walk(module, _join(name, node), tuple(values[p] for p in parents), rows)
        return values[m.output_name()]
    y = m.forward(*inputs)
    f = _flops(m, inputs)
    if f is not None:
        rows.append((name or type(m).__name__, type(m).__name__, tuple(np.shape(y)), m.num_parameters(), int(f)))
    return y


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def summary(model, input_shape, *, dtype=None, print_table=True):
    """Run ``model`` once (eval mode) on zeros of ``input_shape`` (batch 1 is prepended if the
    model refuses the shape as given) and tabulate its layers; layers that run fused (e.g.
    Linear+ReLU) say so in their type. Returns a :class:`Summary` (and prints it)."""
    if not isinstance(model, Module):
        raise TypeError(f"summary: model: expected an nnx.Module, got {type(model).__name__}")
    if dtype is None:
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None else np.float32
    rows = []
    was_training = model.training
    model.eval()
    try:
        shape = tuple(int(s) for s in input_shape)
        try:
            _walk(model, "", (np.zeros(shape, dtype),), rows)
        except ValueError:
            rows.clear()
            _walk(model, "", (np.zeros((1, *shape), dtype),), rows)
    finally:
        model.train(was_training)
    result = Summary(rows, model.num_parameters(), sum(r[4] for r in rows))
    if print_table:
        print(result)
    return result
