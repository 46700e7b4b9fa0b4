"""ONNX export and import (needs ``pip install 'nnx[onnx]'``; onnxruntime runs the files).

``export`` writes a Sequential or Graph of built-in layers as an ONNX model (opset 17, IR version
8, so current runtimes and older ones load it) in its inference form: BatchNorm with its running
statistics, Dropout dropped. Initializers carry the model's ``state_dict`` names. ``load`` reads
that op subset back, including what ``torch.onnx.export`` writes for the same models, treating the
file as untrusted (size caps, no external data).
"""
import os

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("nnx.onnx needs the onnx package: pip install 'nnx[onnx]'") from None

from . import layers as L  # noqa: N812  (L.Linear, L.Conv2d, ...: the layers ONNX ops map to)
from .graph import Add, Graph
from .io.atomic import atomic_write
from .io.reading import read_regular
from .module import Module, Sequential

#: The ONNX opset ``export`` writes (and the newest ``load`` reads).
OPSET = 17
IR_VERSION = 8
#: The largest file ``load`` reads, in bytes: 2 GiB, protobuf's own limit for one message.
MAX_FILE = 1 << 31
_DTYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class _Writer:
    """Collects nodes and initializers while the model is walked."""

    def __init__(self, dtype):
        self.nodes, self.inits, self.dtype, self.count = [], [], dtype, 0
        self.shapes = {}  # the shape of every module's output tensor (for layers that need a rank)

    def apply(self, module, x, prefix):
        """``module.onnx`` on the tensor(s) ``x``; the output's name, its shape recorded."""
        out = module.onnx(self, x, prefix)
        self.shapes[out] = tuple(module.output_shape(*(self.shapes[n] for n in ([x] if isinstance(x, str) else x))))
        return out

    def shape(self, name):
        """The shape (batch 1) of a module's input or output tensor."""
        return self.shapes[name]

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def init(self, name, array, dtype=None):
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype or self.dtype), name))
        return name

    def node(self, op, inputs, hint, **attrs):
        """Append an ``op`` node on the tensors ``inputs``; return its output's name (``hint``: a
        layer's dotted prefix, or empty for the model itself)."""
        out = self.name(hint.rstrip(".") or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def export(model, path, input_shape, *, dynamic_batch=True):
    """Write ``model`` (Sequential or Graph of built-in layers, float32 or float64) as ONNX.

    Parameters
    ----------
    model : Module
    path : str or os.PathLike
        Written atomically.
    input_shape : tuple of int
        One sample's shape, e.g. ``(1, 28, 28)``.
    dynamic_batch : bool, default True
        The batch dimension is symbolic (``"batch"``); False fixes it to 1.

    Raises
    ------
    ValueError
        Naming the layer that has no ONNX form (a custom Module, a Graph with several inputs).
    """
    if not isinstance(model, Module):
        raise TypeError(f"nnx.onnx.export: model: expected an nnx Module, got {type(model).__name__}")
    params = list(model.parameters())
    dtype = params[0].data.dtype if params else np.dtype(np.float32)
    if dtype not in _DTYPES:
        raise ValueError(f"nnx.onnx.export: model dtype {dtype} has no ONNX export (float32 or float64)")
    shape = [int(s) for s in input_shape]
    w = _Writer(dtype)
    w.shapes["input"] = (1, *shape)
    out = w.apply(model, "input", "")  # each layer writes its own nodes (Module.onnx)
    w.nodes.append(helper.make_node("Identity", [out], ["output"], name="output"))
    batch = "batch" if dynamic_batch else 1
    was_training = model.training
    try:  # the output's shape, from one sample through the model in its inference form
        out_shape = list(model.eval()(np.zeros((1, *shape), dtype)).shape[1:])
    finally:
        model.train(was_training)
    graph = helper.make_graph(
        w.nodes, type(model).__name__, [helper.make_tensor_value_info("input", _DTYPES[dtype], [batch, *shape])],
        [helper.make_tensor_value_info("output", _DTYPES[dtype], [batch, *out_shape])], initializer=w.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="nnx")
    onnx.checker.check_model(proto, full_check=True)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return os.fspath(path)


# -- import ----------------------------------------------------------------------------------------
_ACTS = {"Relu": lambda a: L.ReLU(), "Sigmoid": lambda a: L.Sigmoid(), "Tanh": lambda a: L.Tanh(),
         "LeakyRelu": lambda a: L.LeakyReLU(a.get("alpha", 0.01)), "Elu": lambda a: L.ELU(a.get("alpha", 1.0))}
_PASS = ("Dropout", "Identity")


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph, path):
    """Initializers and Constant nodes as arrays, refusing external data and sizes that lie."""
    consts = {}
    tensors = list(graph.initializer) + [a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute
                                         if a.name == "value"]
    names = [t.name for t in graph.initializer] + [n.output[0] for n in graph.node if n.op_type == "Constant"]
    for name, t in zip(names, tensors, strict=True):
        if t.data_location == TensorProto.EXTERNAL or t.external_data:
            raise ValueError(f"nnx.onnx.load: {path}: tensor {name!r} keeps its data outside the file; "
                             "only self-contained models are read")
        if int(np.prod(t.dims, dtype=np.float64)) > MAX_FILE:
            raise ValueError(f"nnx.onnx.load: {path}: tensor {name!r} declares shape {list(t.dims)}")
        consts[name] = numpy_helper.to_array(t)
    return consts


def _layer(node, consts, rank, nxt):
    """``(module, rank_out, nodes_used)`` for ``node`` (and the nodes after it that it absorbs),
    or None when the op is not one nnx has."""
    op, a = node.op_type, _attrs(node)
    w = [consts.get(i) for i in node.input[1:]]
    if op == "Gemm" and w and w[0] is not None and not a.get("transA", 0) and a.get("alpha", 1.0) == 1.0 \
            and a.get("beta", 1.0) == 1.0:
        weight = w[0] if a.get("transB", 0) else w[0].T
        bias = w[1] if len(w) > 1 else None
        if nxt[:2] and [n.op_type for n in nxt[:2]] == ["Reshape", "ReduceMax"]:  # nnx's L.Maxout
            shape, red = consts.get(nxt[0].input[1]), nxt[1]
            axes = consts.get(red.input[1]) if len(red.input) > 1 else _attrs(red).get("axes")
            keep = _attrs(red).get("keepdims", 1)
            if shape is not None and len(shape) == 3 and list(np.ravel(axes)) == [2] and not keep:
                m = L.Maxout(weight.shape[1], int(shape[1]), int(shape[2]), dtype=weight.dtype)
                m.weight.data[...], m.bias.data[...] = weight, bias
                return m, 2, 3
        m = L.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
        m.weight.data[...] = weight
        if bias is not None:
            m.bias.data[...] = np.broadcast_to(bias, m.bias.data.shape)
        return m, 2, 1
    if op == "MatMul" and w and w[0] is not None and w[0].ndim == 2:
        bias = None
        if nxt and nxt[0].op_type == "Add" and nxt[0].input[0] == node.output[0] and nxt[0].input[1] in consts:
            bias = consts[nxt[0].input[1]]
        m = L.Linear(w[0].shape[0], w[0].shape[1], bias=bias is not None, dtype=w[0].dtype)
        m.weight.data[...] = w[0].T
        if bias is not None:
            m.bias.data[...] = np.broadcast_to(bias, m.bias.data.shape)
        return m, 2, 1 + (bias is not None)
    if op == "Conv" and w and w[0] is not None and w[0].ndim == 4 and a.get("group", 1) == 1 \
            and list(a.get("dilations", [1, 1])) == [1, 1]:
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:] or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            return None
        bias = w[1] if len(w) > 1 else None
        m = L.Conv2d(w[0].shape[1], w[0].shape[0], tuple(w[0].shape[2:]), stride=tuple(a.get("strides", [1, 1])),
                   padding=tuple(pads[:2]), bias=bias is not None, dtype=w[0].dtype)
        m.weight.data[...] = w[0]
        if bias is not None:
            m.bias.data[...] = bias
        return m, 4, 1
    if op in ("MaxPool", "AveragePool") and not any(a.get("pads", [0])) and not a.get("ceil_mode", 0) \
            and list(a.get("dilations", [1, 1])) == [1, 1]:
        kernel = tuple(a["kernel_shape"])
        return (L.MaxPool2d if op == "MaxPool" else L.AvgPool2d)(kernel, tuple(a.get("strides", kernel))), 4, 1
    if op == "Flatten" and a.get("axis", 1) == 1:
        return L.Flatten(), 2, 1
    if op == "Reshape" and rank == 4 and node.input[1] in consts and list(consts[node.input[1]])[:1] in ([0], [-1]) \
            and len(consts[node.input[1]]) == 2:
        return L.Flatten(), 2, 1
    if op == "BatchNormalization" and all(v is not None for v in w[:4]):
        scale, b, mean, var = w[:4]
        norm = L.BatchNorm2d if rank == 4 else L.BatchNorm1d
        m = norm(len(scale), eps=float(a.get("epsilon", 1e-5)), dtype=scale.dtype)
        m.weight.data[...], m.bias.data[...] = scale, b
        m.running_mean[...], m.running_var[...] = mean, var
        return m.eval(), rank, 1
    if op == "Sub" and len(node.input) == 2 and node.input[1] in consts and nxt and nxt[0].op_type == "Div" \
            and nxt[0].input[0] == node.output[0] and nxt[0].input[1] in consts:  # nnx's L.Normalize
        mean, std = consts[node.input[1]], consts[nxt[0].input[1]]
        if all(v.ndim <= 1 or all(s == 1 for s in v.shape[1:]) for v in (mean, std)) and (std > 0).all():
            return L.Normalize(mean.reshape(-1), std.reshape(-1), dtype=np.result_type(mean, std)), rank, 2
    if op in _ACTS:
        return _ACTS[op](a), rank, 1
    return None


def load(path):
    """The nnx model (in eval mode) an ONNX file describes: a Sequential for a chain of layers,
    a Graph when tensors branch and are added. Reads the subset ``export`` writes, including the
    files ``torch.onnx.export`` writes for the same models.

    Raises
    ------
    ValueError
        Listing every node whose op nnx does not have, or naming what makes the file unsafe or
        inconsistent (over 2 GiB, external data, sizes that lie).
    """
    data = read_regular(path, "nnx.onnx.load", "model file", MAX_FILE)
    path = os.fspath(path)
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"nnx.onnx.load: {path}: not an ONNX model ({exc})") from None
    try:
        return _build(proto.graph, path)
    except (IndexError, KeyError, TypeError, AttributeError) as exc:  # a node naming what is not there, ...
        raise ValueError(f"nnx.onnx.load: {path}: malformed graph ({type(exc).__name__}: {exc})") from None


def _build(g, path):
    """The nnx model of graph ``g`` (``load``'s work once the file is parsed)."""
    consts = _constants(g, path)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"nnx.onnx.load: {path}: {len(inputs)} inputs and {len(g.output)} outputs; nnx reads "
                         "models with one of each")
    rank = {inputs[0].name: len(inputs[0].type.tensor_type.shape.dim)}
    nodes = [n for n in g.node if n.op_type != "Constant"]
    alias, steps, bad, i = {}, [], [], 0  # steps: (name, module or "add", parent tensor names, output)
    while i < len(nodes):
        n = nodes[i]
        src = [alias.get(x, x) for x in n.input if x and x not in consts]
        r = rank.get(src[0]) if src else None
        if n.op_type in _PASS:
            alias[n.output[0]] = src[0]
            i += 1
            continue
        if n.op_type == "Add" and len(src) == 2:
            steps.append(("", "add", src, n.output[0]))
            rank[n.output[0]] = r
            i += 1
            continue
        made = _layer(n, consts, r, nodes[i + 1:i + 3])
        if made is None:
            bad.append(f"{n.name or n.output[0]} ({n.op_type})")
            i += 1
            continue
        module, r_out, used = made
        out = nodes[i + used - 1].output[0]
        weight = n.input[1] if len(n.input) > 1 else ""
        label = weight[:-len(".weight")] if weight.endswith(".weight") else ""  # the layer's state_dict name
        steps.append((label, module, src[:1], out))
        rank[out] = r_out
        i += used
    if bad:
        raise ValueError(f"nnx.onnx.load: {path}: ops nnx does not have: {', '.join(bad)}")
    final = alias.get(g.output[0].name, g.output[0].name)
    if not steps:  # only Identity / Dropout nodes: the identity (an empty Sequential)
        return Sequential().eval()
    chain = all(s[1] != "add" for s in steps) and all(
        s[2] == [steps[k - 1][3] if k else inputs[0].name] for k, s in enumerate(steps)) and steps[-1][3] == final
    if chain:
        return Sequential(*(s[1] for s in steps)).eval()
    graph = Graph()
    names, used = {inputs[0].name: graph.input("input")}, {"input"}
    for k, (label, module, parents, out) in enumerate(steps):
        name = label if label.isidentifier() and label not in used else f"n{k}"
        used.add(name)
        names[out] = graph.node(name, Add() if module == "add" else module, *(names[p] for p in parents))
    graph.output(names[final])
    return graph.eval()


__all__ = ["MAX_FILE", "OPSET", "export", "load"]
