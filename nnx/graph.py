"""Graph: a DAG of modules (residual blocks, several inputs), and Add to join branches.

The topological order is computed once (Kahn's algorithm) when the graph is first run;
forward visits nodes in that order, backward in reverse, and a value that feeds several nodes
receives the sum of their gradients.
"""
import numpy as np

from .module import Module, architecture, architecture_size, call_backward, from_architecture


class Node:
    """Handle of a graph input or node (returned by ``Graph.input`` / ``Graph.node``)."""

    __slots__ = ("graph", "name")

    def __init__(self, graph, name):
        self.graph, self.name = graph, name

    def __repr__(self):
        return f"Node({self.name!r})"


class Add(Module):
    """y = x1 + x2 + ... (same shapes); backward hands ``dy`` to every input."""

    def __init__(self):
        super().__init__()
        self._n = None

    def forward(self, *xs):
        if not xs:
            raise ValueError("Add.forward: expected at least one input")
        for i, x in enumerate(xs[1:], 1):
            if np.shape(x) != np.shape(xs[0]):
                raise ValueError(f"Add.forward: input {i} has shape {np.shape(x)}, input 0 has "
                                 f"{np.shape(xs[0])}")
        self._n = len(xs) if self.training else None
        out = np.array(xs[0], copy=True)
        for x in xs[1:]:
            out += x
        return out

    def backward(self, grad_out, *, input_grad=True):
        n = self._need_cache(self._n)
        return tuple(np.array(grad_out, copy=True) for _ in range(n))

    def output_shape(self, *input_shapes):
        return tuple(input_shapes[0])

    def onnx(self, writer, x, prefix):
        xs = [x] if isinstance(x, str) else list(x)
        out = xs[0]
        for other in xs[1:]:
            out = writer.node("Add", [out, other], prefix)
        return out




def _unbroadcast(grad, shape):
    """``grad`` summed over the axes NumPy broadcast ``shape`` along, so it has ``shape`` again."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class _Binary(Module):
    """y = a op b for two tensors of a Graph (NumPy broadcasting: one may be (N, C, 1, 1) gates
    for (N, C, H, W) data). Caches the inputs; backward returns (da, db), each summed back to its
    input's shape."""

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, a, b):
        name = type(self).__name__
        for arg, v in (("a", a), ("b", b)):
            if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
                raise TypeError(f"{name}.forward: {arg}: expected a float array, got "
                                f"{getattr(v, 'dtype', type(v).__name__)}")
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{name}.forward: shapes {a.shape} and {b.shape} do not broadcast") from None
        if shape[:1] != a.shape[:1]:
            raise ValueError(f"{name}.forward: input a of shape {a.shape} must carry the batch (axis 0 of {shape})")
        self._cache = (a, b) if self.training else None
        return self._op(a, b)

    def backward(self, grad_out, *, input_grad=True):
        a, b = self._need_cache(self._cache)
        da, db = self._grads(np.asarray(grad_out), a, b)
        return _unbroadcast(da, a.shape).astype(a.dtype, copy=False), _unbroadcast(db, b.shape).astype(b.dtype,
                                                                                                         copy=False)

    def output_shape(self, *input_shapes):
        return tuple(np.broadcast_shapes(*input_shapes))

    def flops(self, *input_shapes):
        return int(np.prod(self.output_shape(*input_shapes)))

    def onnx(self, writer, x, prefix):
        return writer.node(type(self).__name__, list(x), prefix)


class Sub(_Binary):
    """y = a - b of two tensors of a Graph (broadcasting as NumPy); backward (dy, -dy)."""

    def _op(self, a, b):
        return a - b

    def _grads(self, dy, a, b):
        return dy, -dy


class Mul(_Binary):
    """y = a * b of two tensors of a Graph (broadcasting as NumPy: gates of shape (N, C, 1, 1) on
    (N, C, H, W) data, as squeeze-and-excitation blocks do); backward (dy * b, dy * a)."""

    def _op(self, a, b):
        return a * b

    def _grads(self, dy, a, b):
        return dy * b, dy * a


class Div(_Binary):
    """y = a / b of two tensors of a Graph (broadcasting as NumPy); backward (dy / b, -dy * a / b^2)."""

    def _op(self, a, b):
        return a / b

    def _grads(self, dy, a, b):
        return dy / b, -dy * a / (b * b)


class Concat(Module):
    """y = the inputs joined along ``axis`` (default 1, the channels; torch's ``cat``, ONNX's
    Concat); their other sizes must agree. Backward hands each input its slice of ``dy``."""

    def __init__(self, axis=1):
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(f"Concat: axis: expected an int, got {axis!r}")
        self.axis = int(axis)
        self._shape = None

    def forward(self, *xs):
        if not xs:
            raise ValueError("Concat.forward: expected at least one input")
        shapes = [np.shape(x) for x in xs]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"Concat.forward: axis {self.axis} is out of range for inputs of rank {rank}")
        axis = self.axis % rank
        for i, s in enumerate(shapes[1:], 1):
            if len(s) != rank or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
                raise ValueError(f"Concat.forward: input {i} has shape {s}, input 0 has {shapes[0]}; only axis "
                                 f"{self.axis} may differ")
        self._shape = (axis, [s[axis] for s in shapes]) if self.training else None
        return np.concatenate(xs, axis=axis)

    def backward(self, grad_out, *, input_grad=True):
        axis, sizes = self._need_cache(self._shape)
        if np.ndim(grad_out) <= axis or np.shape(grad_out)[axis] != sum(sizes):
            raise ValueError(f"Concat.backward: expected grad_out with {sum(sizes)} entries along axis {axis}, got "
                             f"shape {np.shape(grad_out)}")
        return tuple(np.array(g) for g in np.split(grad_out, np.cumsum(sizes)[:-1], axis=axis))

    def output_shape(self, *input_shapes):
        shape = list(input_shapes[0])
        axis = self.axis % len(shape)
        shape[axis] = sum(s[axis] for s in input_shapes)
        return tuple(shape)

    def flops(self, *input_shapes):
        return 0  # a copy

    def onnx(self, writer, x, prefix):
        return writer.node("Concat", [x] if isinstance(x, str) else list(x), prefix, axis=self.axis)

    def get_config(self):
        return {"axis": self.axis}

    def extra_repr(self):
        return f"axis={self.axis}"


class Graph(Module):
    """A directed acyclic graph of named modules.

    >>> g = Graph(); x = g.input("x")
    >>> h = g.node("fc1", Linear(8, 8), x); g.output(g.node("relu", ReLU(), h))

    ``g(*arrays)`` runs it, ``g.backward(dy)`` returns the input gradient (a tuple when there
    are several inputs); parameters are named after their node (``"fc1.weight"``). Parents may be
    given as handles or names; unknown parents, cycles, duplicate names and a missing output
    raise ``ValueError`` (at the latest when the graph first runs).
    """

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_inputs", [])
        object.__setattr__(self, "_parents", {})
        object.__setattr__(self, "_out", None)
        object.__setattr__(self, "_order", None)

    def _new_name(self, name):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"Graph: name: expected a non-empty string without '.', got {name!r}")
        if name in self._inputs or name in self._parents:
            raise ValueError(f"Graph: duplicate name {name!r}")

    def input(self, name):
        """Declare the next input (in the order ``g(*arrays)`` receives them)."""
        self._new_name(name)
        self._inputs.append(name)
        object.__setattr__(self, "_order", None)
        return Node(self, name)

    def node(self, name, module, *parents):
        """Add node ``name`` computing ``module(*parent_values)``; return its handle."""
        self._new_name(name)
        if not isinstance(module, Module):
            raise TypeError(f"Graph.node: module: expected an nnx.Module, got {type(module).__name__}")
        if self._holds(module):
            raise ValueError(f"Graph.node: {name!r}: this module instance is already a node "
                             "(its forward cache would be shared); build a new one")
        if not parents:
            raise ValueError(f"Graph.node: {name!r}: expected at least one parent")
        names = []
        for p in parents:
            if isinstance(p, Node):
                if p.graph is not self:
                    raise ValueError(f"Graph.node: {name!r}: parent {p.name!r} belongs to another graph")
                names.append(p.name)
            elif isinstance(p, str):
                names.append(p)
            else:
                raise TypeError(f"Graph.node: {name!r}: parents must be handles or names, got {type(p).__name__}")
        self._parents[name] = names
        setattr(self, name, module)
        object.__setattr__(self, "_order", None)
        return Node(self, name)

    def output(self, node):
        """Mark the single output node."""
        name = node.name if isinstance(node, Node) else node
        if self._out is not None:
            raise ValueError(f"Graph.output: the output is already {self._out!r}")
        if name not in self._parents and name not in self._inputs:
            raise ValueError(f"Graph.output: unknown node {name!r}")
        object.__setattr__(self, "_out", name)
        object.__setattr__(self, "_order", None)

    def order(self):
        """Node names in topological order (Kahn's algorithm; validated once, then cached)."""
        if self._order is not None:
            return self._order
        if self._out is None:
            raise ValueError("Graph: no output marked; call g.output(node)")
        if not self._inputs:
            raise ValueError("Graph: no inputs declared; call g.input(name)")
        known = set(self._inputs) | set(self._parents)
        indeg = {n: 0 for n in self._parents}
        children = {n: [] for n in known}
        for n, ps in self._parents.items():
            for p in ps:
                if p not in known:
                    raise ValueError(f"Graph: node {n!r} has an unknown parent {p!r}")
                children[p].append(n)
                if p in self._parents:
                    indeg[n] += 1
        ready = [n for n in self._parents if indeg[n] == 0]
        order = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for c in children[n]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        if len(order) != len(self._parents):
            stuck = sorted(n for n in self._parents if indeg[n] > 0)
            raise ValueError(f"Graph: cycle among nodes {stuck}")
        object.__setattr__(self, "_order", order)
        return order

    def nodes(self):
        """``[(name, module, parent_names)]`` in the order forward runs them."""
        return [(n, self._modules[n], list(self._parents[n])) for n in self.order()]

    def input_names(self):
        """The names of the graph's inputs, in the order ``forward`` takes them."""
        return list(self._inputs)

    def output_name(self):
        """The name of the node whose output the graph returns."""
        return self._out

    def get_config(self):
        nodes = [{"name": n, "parents": ps, "module": architecture(m)} for n, m, ps in self.nodes()]
        if any(node["module"] is None for node in nodes):
            return None
        return {"inputs": self.input_names(), "nodes": nodes, "output": self.output_name()}

    @classmethod
    def from_config(cls, config):
        g = cls()
        for name in config["inputs"]:
            g.input(name)
        for node in config["nodes"]:
            g.node(node["name"], from_architecture(node["module"]), *node["parents"])
        g.output(config["output"])
        return g

    @classmethod
    def config_size(cls, config):
        return sum(architecture_size(node["module"]) for node in config["nodes"])

    def _through(self, inputs, visit):
        """Each node's ``visit(name, module, parent values)`` in topological order, from the
        graph inputs' values; returns every node's value."""
        values = dict(zip(self._inputs, inputs, strict=True))
        for n, m, ps in self.nodes():
            values[n] = visit(n, m, [values[p] for p in ps])
        return values

    def output_shape(self, *input_shapes):
        return tuple(self._through(input_shapes, lambda n, m, xs: m.output_shape(*xs))[self._out])

    def flops(self, *input_shapes):
        total = []

        def visit(n, m, shapes):
            total.append(m.flops(*shapes))
            return m.output_shape(*shapes)

        self._through(input_shapes, visit)
        return None if None in total else sum(total)

    def sample_shape(self):
        return next((s for s in (m.sample_shape() for _, m, _ in self.nodes()) if s is not None), None)

    def filters(self):
        nodes = self.nodes()
        return nodes[0][1].filters() if nodes else None

    def onnx(self, writer, x, prefix):
        if len(self._inputs) != 1:
            raise ValueError(f"nnx.onnx.export: {prefix.rstrip('.') or 'the Graph'} has {len(self._inputs)} inputs; "
                             "export takes one")
        names = self._through([x], lambda n, m, xs: writer.apply(m, xs if len(xs) > 1 else xs[0], f"{prefix}{n}."))
        return names[self._out]

    def forward(self, *inputs):
        order = self.order()
        if len(inputs) != len(self._inputs):
            raise ValueError(f"Graph.forward: expected {len(self._inputs)} inputs ({self._inputs}), "
                             f"got {len(inputs)}")
        values = dict(zip(self._inputs, inputs, strict=True))
        for n in order:
            values[n] = self._modules[n].forward(*(values[p] for p in self._parents[n]))
        return values[self._out]

    def backward(self, grad_out, *, input_grad=True):
        """Reverse sweep; returns the inputs' gradients (a tuple for several inputs), or ``None``
        with ``input_grad=False`` (nodes fed only by inputs then skip their input gradient)."""
        order = self.order()
        grads = {self._out: grad_out}
        for n in reversed(order):
            if n not in grads:
                continue  # does not reach the output
            ps = self._parents[n]
            g = call_backward(self._modules[n], grads.pop(n), input_grad or any(p in self._parents for p in ps))
            if g is None and not input_grad:
                continue
            gs = g if len(ps) > 1 else (g,)
            if len(gs) != len(ps):
                raise ValueError(f"Graph.backward: node {n!r} returned {len(gs)} gradients for "
                                 f"{len(ps)} parents")
            for p, gp in zip(ps, gs, strict=True):
                grads[p] = gp if p not in grads else grads[p] + gp  # fan-out: sum, never in place
        if not input_grad:
            return None
        outs = [grads.get(name) for name in self._inputs]
        return tuple(outs) if len(outs) > 1 else outs[0]
