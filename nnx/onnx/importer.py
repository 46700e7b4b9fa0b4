"""ONNX import: a file (or a ModelProto) as an nnx model, or an error naming the node.

The graph is validated as onnxruntime would before anything is built: known domain and opset,
every attribute of the type its op's schema says, every node's inputs made by an earlier node
(no cycles, nothing missing), every tensor's data readable and of the size its dims declare.
Then each node goes through the op table :data:`OPS`: it becomes an nnx layer applied to the
tensors it reads, a constant folded at load time (Shape, Gather, Unsqueeze, Concat, Cast of
constants, as exporters write them around Reshape), or an :class:`Unsupported` error naming the
op, the attribute and its value when nnx has no equivalent. Nothing is computed differently
from ONNX's definition without a word; docs/onnx.md is generated from the same table.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper

from .. import layers as L  # noqa: N812  (L.Linear, L.Conv2d, ...: the layers ops map to)
from ..graph import Add, Concat, Div, Graph, Mul, Sub
from ..io.reading import open_regular, read_regular
from ..module import Sequential

#: The largest file ``load`` reads, in bytes: 2 GiB, protobuf's own limit for one message.
MAX_FILE = 1 << 31
#: The most values one tensor of the file (or a constant folded from them) may hold.
MAX_VALUES = 1 << 28
_DOMAINS = ("", "ai.onnx")
_ONNX_DOMAINS = ("ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training")  # valid; nnx has no layers
_FLOAT = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}


class Unsupported(NotImplementedError, ValueError):
    """A valid ONNX model using an op, an attribute value or a form nnx has no layer for. A
    ``NotImplementedError`` (what ONNX's backend tests expect of a backend) and a ``ValueError``
    (what every nnx reader raises for a file it cannot use)."""


class Op:
    """One entry of the op table: the handler, the newest version of the op it implements, and
    what the generated docs say it supports and refuses."""

    def __init__(self, name, handler, version, supported, refused):
        self.name, self.handler, self.version = name, handler, version
        self.supported, self.refused = supported, refused


#: op type -> :class:`Op`, filled by the handlers below.
OPS = {}


def _op(name, version, supported, refused=""):
    def register(handler):
        OPS[name] = Op(name, handler, version, supported, refused)
        return handler
    return register


class _Batch:
    """The batch size, unknown until run time, as an entry of a shape folded at load time."""

    def __repr__(self):
        return "batch"


BATCH = _Batch()


class Value:
    """A tensor computed at run time: the name of the step making it, its shape (None for a
    dimension not known before run time) and dtype."""

    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, tuple(shape), np.dtype(dtype)

    @property
    def rank(self):
        return len(self.shape)


class _Importer:
    def __init__(self, graph, opset, where):
        self.g, self.opset, self.where = graph, opset, where
        self.values = {}   # ONNX tensor name -> Value or ndarray (a constant)
        self.steps = []    # (label, module, parent step names, output step name, output shape)
        self.uses = {}     # ONNX tensor name -> how many nodes read it (graph outputs count)
        self.skip = set()  # nodes a fusion already consumed

    # -- errors --------------------------------------------------------------------------------
    def node_name(self, node):
        label = node.name or next((o for o in node.output if o), "?")
        return f"node {label} ({node.op_type})"

    def bad(self, node, what):
        return ValueError(f"nnx.onnx.load: {self.where}: {self.node_name(node)}: {what}")

    def refuse(self, node, what):
        return Unsupported(f"nnx.onnx.load: {self.where}: {self.node_name(node)}: {what}")

    # -- building ------------------------------------------------------------------------------
    def apply(self, module, parents, shape=None, label=""):
        """A step running ``module`` on the Values ``parents``; its output Value."""
        name = f"s{len(self.steps)}"
        if shape is None:
            known = [tuple(1 if d is None else d for d in p.shape) for p in parents]
            shape = list(module.output_shape(*known))
            if parents[0].shape and parents[0].shape[0] is None:
                shape[0] = None  # the batch, unknown until run time
        self.steps.append((label, module, [p.name for p in parents], name, tuple(shape)))
        return Value(name, shape, parents[0].dtype)

    def used_once(self, tensor):
        return self.uses.get(tensor, 0) == 1


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# -- validation ------------------------------------------------------------------------------------
def _opset(model, where):
    versions = {}
    for imp in model.opset_import:
        if imp.domain in _DOMAINS:
            versions[""] = imp.version
        elif imp.domain not in _ONNX_DOMAINS:
            raise ValueError(f"nnx.onnx.load: {where}: opset domain {imp.domain!r} is none ONNX defines")
    opset = versions.get("")
    newest = defs.onnx_opset_version()
    if opset is None or not 1 <= opset <= newest:
        raise ValueError(f"nnx.onnx.load: {where}: opset {opset}: this onnx package knows opsets 1 to {newest}")
    return opset


def _check_node(imp, node):
    """The checks onnxruntime makes of one node: domain, op, attribute names and types, counts."""
    if node.domain in _ONNX_DOMAINS:
        raise imp.refuse(node, f"domain {node.domain!r}: nnx reads the standard ONNX domain only")
    if node.domain not in _DOMAINS:
        raise imp.bad(node, f"domain {node.domain!r} is none ONNX defines")
    if not node.output or not any(node.output):
        raise imp.bad(node, "has no output")
    try:
        schema = defs.get_schema(node.op_type, imp.opset, "")
    except defs.SchemaError:
        raise imp.bad(node, f"no op {node.op_type!r} in opset {imp.opset}") from None
    for a in node.attribute:
        spec = schema.attributes.get(a.name)
        if spec is None:
            raise imp.bad(node, f"attribute {a.name!r}: {node.op_type} has no such attribute")
        if a.type != spec.type:
            raise imp.bad(node, f"attribute {a.name!r} is {onnx.AttributeProto.AttributeType.Name(a.type)}, "
                                f"{node.op_type} takes {onnx.AttributeProto.AttributeType.Name(spec.type)}")
    given = {a.name for a in node.attribute}
    for name, spec in schema.attributes.items():
        if spec.required and name not in given:
            raise imp.bad(node, f"required attribute {name!r} is missing")
    if not schema.min_input <= len(node.input) <= schema.max_input:
        raise imp.bad(node, f"{len(node.input)} inputs; {node.op_type} takes {schema.min_input} to {schema.max_input}")
    if not schema.min_output <= len(node.output) <= schema.max_output:
        raise imp.bad(node, f"{len(node.output)} outputs; {node.op_type} makes {schema.min_output} to "
                            f"{schema.max_output}")
    return schema


_NP = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16,
       TensorProto.INT64: np.int64, TensorProto.INT32: np.int32, TensorProto.INT16: np.int16,
       TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.BOOL: np.bool_}


def _external(t, name, where, folder, budget):
    """The values of a tensor kept in a file beside the model (torch's default exporter writes
    ``model.onnx.data``): only a regular file inside the model's own folder (a relative path, no
    ``..``, no link leading out), its byte range checked against the declared dims before a byte
    is read, every external byte counted against ``budget`` (the 2 GiB of :data:`MAX_FILE`)."""
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    if folder is None:
        raise Unsupported(f"nnx.onnx.load: {where}: tensor {name!r} keeps its data in {loc!r}, outside the model; "
                          "load the model from its file (nnx.onnx.load(path)) so that folder can be read")
    if not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/"):
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: external data location {loc!r} is outside the "
                         "model's folder (nnx reads only relative paths inside it)")
    real, root = os.path.realpath(os.path.join(folder, loc)), os.path.realpath(folder)
    if os.path.commonpath([real, root]) != root:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: external data {loc!r} leads outside the model's "
                         "folder (a link)")
    if t.data_type not in _NP:
        raise Unsupported(f"nnx.onnx.load: {where}: tensor {name!r} of type {t.data_type} kept outside the file")
    try:
        offset = int(info.get("offset", 0))
        length = None if "length" not in info else int(info["length"])
    except ValueError:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: external data offset {info.get('offset')!r}, "
                         f"length {info.get('length')!r}") from None
    size = int(np.prod(t.dims, dtype=np.int64)) * np.dtype(_NP[t.data_type]).itemsize
    if offset < 0 or (length is not None and length != size):
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: external data offset {offset}, length "
                         f"{length} for dims {list(t.dims)} ({size} bytes)")
    if size > budget[0]:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: external data beyond the {MAX_FILE:,} bytes a "
                         "model may be")
    budget[0] -= size
    f, file_size = open_regular(real, "nnx.onnx.load", "tensor data file")
    with f:
        if offset + size > file_size:
            raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: {loc!r} holds {file_size} bytes, fewer "
                             f"than offset {offset} + {size}")
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r}: {loc!r} ended early")
    dtype = np.dtype(_NP[t.data_type])
    return np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(tuple(t.dims))


def _tensor(t, name, where, folder=None, budget=None):
    """An initializer or Constant tensor as an array: stored in the file (or beside it, see
    :func:`_external`), of a known type, with as many values as its dims declare, not too many."""
    if any(d < 0 for d in t.dims) or int(np.prod(t.dims, dtype=np.float64)) > MAX_VALUES:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r} declares shape {list(t.dims)}")
    if t.data_type not in TensorProto.DataType.values() or t.data_type == TensorProto.UNDEFINED:
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r} has data type {t.data_type}, which ONNX "
                         "does not define")
    if t.data_location == TensorProto.EXTERNAL or t.external_data:
        return _external(t, name, where, folder, [MAX_FILE] if budget is None else budget)
    try:
        a = numpy_helper.to_array(t)
    except Exception as exc:  # raw_data of the wrong length, an unreadable type, ...
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r} is unreadable ({exc})") from None
    if a.shape != tuple(t.dims):
        raise ValueError(f"nnx.onnx.load: {where}: tensor {name!r} holds {a.size} values for dims {list(t.dims)}")
    return a


# -- the op table ----------------------------------------------------------------------------------
def _value(imp, node, x, what="input"):
    if not isinstance(x, Value):
        raise imp.refuse(node, f"the {what} is a constant; nnx imports ops on the model's data")
    return x


def _const(imp, node, x, what):
    if isinstance(x, Value):
        raise imp.refuse(node, f"{what} is computed at run time; nnx takes it only as a constant (an initializer)")
    if x is None:
        raise imp.bad(node, f"{what} is missing")
    return x


def _activation(make):
    def handle(imp, node, a, ins):
        x = ins[0]
        module = make(a)
        if not isinstance(x, Value):  # a constant: computed now
            return [module.eval().forward(np.asarray(x, np.float64)).astype(x.dtype)]
        return [imp.apply(module, [x])]
    return handle


_op("Relu", 14, "any shape")(_activation(lambda a: L.ReLU()))
_op("Sigmoid", 13, "any shape")(_activation(lambda a: L.Sigmoid()))
_op("Tanh", 13, "any shape")(_activation(lambda a: L.Tanh()))
_op("LeakyRelu", 16, "`alpha`")(_activation(lambda a: L.LeakyReLU(a.get("alpha", 0.01))))
_op("Elu", 22, "`alpha`")(_activation(lambda a: L.ELU(a.get("alpha", 1.0))))


@_op("Identity", 25, "tensors (a pass-through)")
def _identity(imp, node, a, ins):
    return [ins[0]]


@_op("Dropout", 22, "the inference form (the identity); `ratio`, `seed`",
     "`training_mode` true; the `mask` output")
def _dropout(imp, node, a, ins):
    training = ins[2] if len(ins) > 2 else None
    if isinstance(training, Value):
        raise imp.refuse(node, "training_mode is computed at run time; nnx imports the inference form")
    if training is not None and bool(np.asarray(training)):
        raise imp.refuse(node, "training_mode=True: nnx imports the inference form (no random mask)")
    if len(node.output) > 1 and node.output[1] and imp.uses.get(node.output[1]):
        raise imp.refuse(node, "the mask output is used; nnx imports the inference form, which has none")
    return [ins[0], None]


def _bias(imp, node, c, n, what):
    """A bias for ``n`` outputs from a constant that broadcasts to (1, n): (), (1,), (n,), (1, n)."""
    c = np.asarray(c)
    if c.size in (1, n) and (c.ndim <= 1 or (c.ndim == 2 and c.shape[0] == 1)):
        return np.broadcast_to(c.reshape(-1), (n,))
    raise imp.refuse(node, f"{what} of shape {c.shape}: nnx takes a bias of shape (N,) or (1, N) (a matrix bias "
                           "depends on the batch)")


def _linear(w, bias, dtype):
    m = L.Linear(w.shape[1], w.shape[0], bias=bias is not None, dtype=dtype)
    m.weight.data[...] = w
    if bias is not None:
        m.bias.data[...] = bias
    return m


@_op("Gemm", 13, "`alpha`, `beta` (folded into the weights), `transB`, a bias of shape (N,) or (1, N); "
     "Gemm -> Reshape -> ReduceMax as written for Maxout; `transA=1` (a Permute first)",
     "B computed at run time; a matrix bias")
def _gemm(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input A")
    if x.rank != 2:
        raise imp.bad(node, f"A has rank {x.rank}; Gemm takes 2-D A")
    if a.get("transA", 0):  # A is (features, batch): transposed first
        x = imp.apply(L.Permute((1, 0)), [x], (x.shape[1], x.shape[0]))
    b = np.asarray(_const(imp, node, ins[1], "B"))
    if b.ndim != 2:
        raise imp.bad(node, f"B has shape {b.shape}; Gemm takes a 2-D B")
    w = b if a.get("transB", 0) else b.T  # (out, in), as Linear keeps it
    if x.shape[1] is not None and w.shape[1] != x.shape[1]:
        raise imp.bad(node, f"B of shape {b.shape} does not fit A of shape {x.shape}")
    w = w * np.asarray(a.get("alpha", 1.0), w.dtype) if a.get("alpha", 1.0) != 1.0 else w
    c = ins[2] if len(ins) > 2 else None
    bias = None
    if c is not None:
        bias = _bias(imp, node, _const(imp, node, c, "C"), w.shape[0], "C")
        bias = bias * np.asarray(a.get("beta", 1.0), bias.dtype) if a.get("beta", 1.0) != 1.0 else bias
    maxout = _maxout_after(imp, node, w.shape[0])
    if maxout is not None:
        out_features, pieces = maxout
        m = L.Maxout(w.shape[1], out_features, pieces, dtype=x.dtype)
        m.weight.data[...] = w
        m.bias.data[...] = bias if bias is not None else 0
        return [imp.apply(m, [x], label=_label(node))]
    return [imp.apply(_linear(w, bias, x.dtype), [x], label=_label(node))]


def _maxout_after(imp, node, rows):
    """``(out_features, pieces)`` when the Gemm is followed by the Reshape (0 or -1, k, p) and the
    ReduceMax over axis 2 nnx's Maxout exports, with k * p equal to the Gemm's rows (sizes
    checked against the weights, never taken from the Reshape alone); else None."""
    nodes, i = imp.nodes, imp.index
    if i + 2 >= len(nodes):
        return None
    reshape, reduce = nodes[i + 1], nodes[i + 2]
    if not (reshape.op_type == "Reshape" and reduce.op_type == "ReduceMax" and reshape.input[0] == node.output[0]
            and reduce.input[0] == reshape.output[0] and imp.used_once(node.output[0])
            and imp.used_once(reshape.output[0])):
        return None
    shape = imp.values.get(reshape.input[1])
    if isinstance(shape, Value) or shape is None:
        return None
    shape = np.asarray(shape).reshape(-1)
    ra = _attrs(reduce)
    axes = ra.get("axes")
    if axes is None and len(reduce.input) > 1:
        axes = imp.values.get(reduce.input[1])
    if isinstance(axes, Value) or axes is None:
        return None
    if not (len(shape) == 3 and shape[0] in (0, -1) and shape[1] > 0 and shape[2] > 0
            and int(shape[1]) * int(shape[2]) == rows and list(np.ravel(axes)) in ([2], [-1])
            and not ra.get("keepdims", 1)):
        return None
    imp.skip.update((i + 1, i + 2))
    imp.alias[reduce.output[0]] = node.output[0]
    return int(shape[1]), int(shape[2])


def _label(node):
    """The layer's state_dict name, from its weight's initializer name (``"3.weight"`` -> ``"3"``)."""
    weight = node.input[1] if len(node.input) > 1 else ""
    return weight[:-len(".weight")] if weight.endswith(".weight") else ""


@_op("MatMul", 13, "data (batch, K) times a constant (K, N); MatMul -> Add of a constant (N,) as a Linear",
     "other ranks; B computed at run time")
def _matmul(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input A")
    b = np.asarray(_const(imp, node, ins[1], "B"))
    if x.rank != 2 or b.ndim != 2:
        raise imp.refuse(node, f"A of rank {x.rank} and B of shape {b.shape}: nnx imports (batch, K) x (K, N)")
    if x.shape[1] is not None and b.shape[0] != x.shape[1]:
        raise imp.bad(node, f"B of shape {b.shape} does not fit A of shape {x.shape}")
    bias = None
    nxt = imp.nodes[imp.index + 1] if imp.index + 1 < len(imp.nodes) else None
    if nxt is not None and nxt.op_type == "Add" and imp.used_once(node.output[0]) and len(nxt.input) == 2:
        other = [t for t in nxt.input if t != node.output[0]]
        c = imp.values.get(other[0]) if len(other) == 1 else None
        if c is not None and not isinstance(c, Value) and np.asarray(c).size == b.shape[1] \
                and np.asarray(c).ndim <= 2:
            bias = np.asarray(c).reshape(-1)
            imp.skip.add(imp.index + 1)
            imp.alias[nxt.output[0]] = node.output[0]
    return [imp.apply(_linear(b.T, bias, x.dtype), [x], label=_label(node))]


def _per_channel(c, rank):
    """``c`` as one value per channel (axis 1 of data of ``rank``, as numpy broadcasts it: the
    trailing axes line up), or None when it varies along other axes."""
    c = np.asarray(c, np.float64)
    if c.size == 1:
        return c.reshape(1)
    if rank < 2 or c.ndim > rank:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if shape[0] == 1 and all(s == 1 for s in shape[2:]):
        return c.reshape(-1)
    return None


_ARITH = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def _arith(op):
    def handle(imp, node, a, ins):
        x, y = ins
        if not isinstance(x, Value) and not isinstance(y, Value):
            return [_ARITH[op](np.asarray(x), np.asarray(y))]
        if isinstance(x, Value) and isinstance(y, Value):
            return [_join2(imp, node, op, x, y)]
        data, c = (x, y) if isinstance(x, Value) else (y, x)
        if data is y and op in ("Sub", "Div"):
            raise imp.refuse(node, f"{op} of a constant by the data: nnx takes the data first")
        per = _per_channel(c, data.rank)
        if per is None:
            raise imp.refuse(node, f"{op} of a constant of shape {np.shape(c)}: nnx takes a number or one per "
                                   f"channel (axis 1 of the data's shape {data.shape})")
        return [imp.apply(_normalize_for(imp, node, op, per, data), [data])]
    return handle


def _join2(imp, node, op, x, y):
    """Two computed tensors: Add of one shape (a residual branch); Sub, Mul, Div where the second
    broadcasts into the first's shape (gates of shape (N, C, 1, 1), say), as nnx's layers take
    them (Mul's inputs swapped when the first is the one that broadcasts)."""
    known = [tuple(1 if d is None else d for d in v.shape) for v in (x, y)]
    try:
        shape = np.broadcast_shapes(*known)
    except ValueError:
        raise imp.bad(node, f"shapes {x.shape} and {y.shape} do not broadcast") from None
    if op == "Add":
        if x.shape != y.shape:
            raise imp.refuse(node, f"Add of shapes {x.shape} and {y.shape}: nnx's Add joins tensors of one shape")
        return imp.apply(Add(), [x, y])
    if shape != known[0] and op == "Mul" and shape == known[1]:
        x, y = y, x
    elif shape != known[0]:
        raise imp.refuse(node, f"{op} of shapes {x.shape} and {y.shape}: nnx's {op} broadcasts its second input "
                               "into the first's shape")
    return imp.apply({"Sub": Sub, "Mul": Mul, "Div": Div}[op](), [x, y], shape=x.shape)


def _normalize_for(imp, node, op, c, data):
    """``x op c`` as a Normalize ((x - mean) / std), fusing the Sub -> Div pair nnx exports."""
    if data.shape[1:2] not in ((None,), (c.size,)) and c.size != 1:
        raise imp.bad(node, f"a constant of {c.size} values for data of shape {data.shape}")
    one, zero = np.ones_like(c), np.zeros_like(c)
    if op == "Sub":
        nxt = imp.nodes[imp.index + 1] if imp.index + 1 < len(imp.nodes) else None
        divisor = imp.values.get(nxt.input[1]) if nxt is not None and len(nxt.input) == 2 else None
        if nxt is not None and nxt.op_type == "Div" and nxt.input[0] == node.output[0] \
                and imp.used_once(node.output[0]) and divisor is not None and not isinstance(divisor, Value):
            std = _per_channel(divisor, data.rank)
            if std is not None and (std > 0).all() and (std.size == c.size or 1 in (std.size, c.size)):
                imp.skip.add(imp.index + 1)
                imp.alias[nxt.output[0]] = node.output[0]
                return L.Normalize(c, std, dtype=data.dtype)
        mean, std = c, one
    elif op == "Add":
        mean, std = -c, one
    elif op == "Div":
        mean, std = zero, c
    else:  # Mul
        if (c == 0).any():
            raise imp.refuse(node, "Mul by a constant holding 0: nnx's Normalize divides by it")
        mean, std = zero, 1 / c
    if not (std > 0).all():
        raise imp.refuse(node, f"{op} by a negative constant: nnx's Normalize divides by positive values")
    return L.Normalize(mean, std, dtype=data.dtype)


_CONST_ARITH = "data and a constant that is a number or one value per channel (axis 1), as a Normalize"
_op("Add", 14, _CONST_ARITH + "; two computed tensors of one shape (a residual branch: an Add node of a Graph)",
    "constants of other shapes; two computed tensors of different shapes (broadcasting)")(_arith("Add"))
_TWO = "; two computed tensors, the second broadcasting into the first's shape (a {} node of a Graph)"
_op("Sub", 14, _CONST_ARITH + "; Sub -> Div by constants (what nnx exports for Normalize) as one Normalize"
    + _TWO.format("Sub"), "a constant minus the data; constants of other shapes; a first input that broadcasts")(
    _arith("Sub"))
_op("Mul", 14, _CONST_ARITH + " (a factor > 0)" + _TWO.format("Mul"), "factors <= 0; constants of other shapes")(
    _arith("Mul"))
_op("Div", 14, _CONST_ARITH + " (a divisor > 0)" + _TWO.format("Div"), "a constant over the data; divisors <= 0; "
    "constants of other shapes; a first input that broadcasts")(_arith("Div"))


def _pads(imp, node, a, x, kernel, strides):
    """``(begin, end)``: the padding before and after each spatial axis, from ``pads`` or
    ``auto_pad`` (SAME_UPPER puts the odd one at the end, SAME_LOWER at the start; both need the
    input's size at load time)."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise imp.bad(node, f"auto_pad={auto!r} is not one ONNX defines")
    n = len(kernel)
    if auto == "VALID":
        return (0,) * n, (0,) * n
    if auto.startswith("SAME"):
        begin, end = [], []
        for size, k, s in zip(x.shape[2:], kernel, strides, strict=True):
            if size is None:
                raise imp.refuse(node, f"auto_pad={auto} on an input whose size is known only at run time")
            total = max((-(-size // s) - 1) * s + k - size, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else large)
            end.append(large if auto == "SAME_UPPER" else small)
        return tuple(begin), tuple(end)
    pads = [int(p) for p in a.get("pads", [0] * (2 * n))]
    if len(pads) != 2 * n or min(pads, default=0) < 0:
        raise imp.bad(node, f"pads={pads} for a {n}-D kernel")
    return tuple(pads[:n]), tuple(pads[n:])


def _padded(imp, x, begin, end, value):
    """``x`` through a Pad2d of ``value`` when any of ``begin``/``end`` is not 0."""
    if not any(begin) and not any(end):
        return x
    return imp.apply(L.Pad2d((begin[1], end[1], begin[0], end[0]), value), [x])


@_op("Conv", 22, "2-D, `strides`, `pads`, `auto_pad` (uneven padding as a Pad2d first), `kernel_shape` (checked "
     "against the weights)", "`group` > 1; `dilations` > 1; 1-D or 3-D")
def _conv(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input X")
    w = np.asarray(_const(imp, node, ins[1], "W"))
    if x.rank != 4 or w.ndim != 4:
        raise imp.refuse(node, f"input of rank {x.rank}, weights of shape {w.shape}: nnx imports 2-D convolution")
    if "kernel_shape" in a and list(a["kernel_shape"]) != list(w.shape[2:]):
        raise imp.bad(node, f"kernel_shape={list(a['kernel_shape'])} but the weights are {w.shape}")
    if a.get("group", 1) != 1:
        raise imp.refuse(node, f"group={a['group']}: nnx's Conv2d is not grouped")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise imp.refuse(node, f"dilations={list(a['dilations'])}: nnx's Conv2d is not dilated")
    if x.shape[1] is not None and w.shape[1] != x.shape[1]:
        raise imp.bad(node, f"weights of shape {w.shape} for an input of {x.shape[1]} channels")
    strides = tuple(a.get("strides", [1, 1]))
    if len(strides) != 2 or min(strides) < 1:
        raise imp.bad(node, f"strides={list(strides)}")
    begin, end = _pads(imp, node, a, x, w.shape[2:], strides)
    if begin != end:  # uneven (SAME_*, or pads as written): a Pad2d of zeros first
        x, begin = _padded(imp, x, begin, end, 0.0), (0, 0)
    pads = begin
    bias = np.asarray(_const(imp, node, ins[2], "B")) if len(ins) > 2 and ins[2] is not None else None
    if bias is not None and bias.shape != (w.shape[0],):
        raise imp.bad(node, f"bias of shape {bias.shape} for {w.shape[0]} output channels")
    m = L.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=strides, padding=pads, bias=bias is not None,
                 dtype=x.dtype)
    m.weight.data[...] = w
    if bias is not None:
        m.bias.data[...] = bias
    return [imp.apply(m, [x], label=_label(node))]


def _pool(kind):
    def handle(imp, node, a, ins):
        x = _value(imp, node, ins[0], "input X")
        kernel = tuple(a["kernel_shape"])
        if x.rank != 4 or len(kernel) != 2:
            raise imp.refuse(node, f"{len(kernel)}-D pooling: nnx imports 2-D pools")
        strides = tuple(a.get("strides", [1, 1]))  # ONNX's default stride is 1, not the kernel
        if len(strides) != 2 or min(strides) < 1 or min(kernel) < 1:
            raise imp.bad(node, f"kernel_shape={list(kernel)}, strides={list(strides)}")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise imp.refuse(node, f"dilations={list(a['dilations'])}: nnx's pools are not dilated")
        if len(node.output) > 1 and node.output[1] and imp.uses.get(node.output[1]):
            raise imp.refuse(node, "the Indices output is used: nnx's MaxPool2d does not return it")
        begin, end = _pads(imp, node, a, x, kernel, strides)
        ceil = bool(a.get("ceil_mode", 0))
        extra = {"count_include_pad": bool(a.get("count_include_pad", 0))} if kind is L.AvgPool2d else {}
        if begin == end and all(p <= k // 2 for p, k in zip(begin, kernel, strict=True)):  # torch's own form
            return [imp.apply(kind(kernel, strides, begin, ceil, **extra), [x])]
        if kind is L.MaxPool2d:  # uneven or wide padding: -inf around it first (ONNX's MaxPool ignores padding)
            return [imp.apply(kind(kernel, strides, 0, ceil), [_padded(imp, x, begin, end, -np.inf)])]
        if extra["count_include_pad"] and not ceil:  # zeros counted in every window: the same
            return [imp.apply(kind(kernel, strides), [_padded(imp, x, begin, end, 0.0)])]
        raise imp.refuse(node, f"padding {begin} before and {end} after with count_include_pad="
                               f"{a.get('count_include_pad', 0)}, ceil_mode={int(ceil)}: nnx's AvgPool2d pads "
                               "both sides alike, at most half the kernel")
    return handle


_POOL_DOC = "2-D, `kernel_shape`, `strides` (default 1), `pads`, `auto_pad`, `ceil_mode`"
_op("MaxPool", 22, _POOL_DOC + " (padding wider than half the kernel or uneven: a Pad2d of -inf first)",
    "`dilations` > 1; the Indices output; 1-D or 3-D")(_pool(L.MaxPool2d))
_op("AveragePool", 22, _POOL_DOC + ", `count_include_pad` (uneven or wide padding with `count_include_pad=1`: a "
    "Pad2d of zeros first)", "uneven or wide padding with `count_include_pad=0` or `ceil_mode`; `dilations` > 1; "
    "1-D or 3-D")(_pool(L.AvgPool2d))


@_op("Transpose", 25, "any `perm` (a Permute layer); constants (folded)", "")
def _transpose(imp, node, a, ins):
    x = ins[0]
    rank = x.rank if isinstance(x, Value) else np.ndim(x)
    perm = [int(p) for p in a.get("perm", range(rank)[::-1])]
    if sorted(perm) != list(range(rank)):
        raise imp.bad(node, f"perm={perm} for an input of rank {rank}")
    if not isinstance(x, Value):
        return [np.transpose(x, perm)]
    return [imp.apply(L.Permute(perm), [x], tuple(x.shape[p] for p in perm))]


@_op("Pad", 25, "mode `constant` of a 4-D input on its two spatial axes, constant `pads` >= 0 and value "
     "(a Pad2d)", "modes reflect, edge, wrap; padding the batch or channels; negative pads (cropping)")
def _pad(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input data")
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise imp.refuse(node, f"mode={mode!r}: nnx's Pad2d pads with a constant")
    pads = a.get("pads") if "pads" in a else _const(imp, node, ins[1] if len(ins) > 1 else None, "pads")
    value = a.get("value", 0.0)
    if len(ins) > 2 and ins[2] is not None:
        value = _const(imp, node, ins[2], "constant_value")
        if np.size(value) != 1:
            raise imp.bad(node, f"constant_value of shape {np.shape(value)}; Pad takes a scalar")
        value = float(np.asarray(value).reshape(()))
    pads = [int(p) for p in np.ravel(pads)]
    axes = list(range(x.rank))
    if len(ins) > 3 and ins[3] is not None:
        axes = [int(v) % x.rank for v in np.ravel(_const(imp, node, ins[3], "axes"))]
    if len(pads) != 2 * len(axes):
        raise imp.bad(node, f"pads={pads} for {len(axes)} axes")
    full = [0] * (2 * x.rank)
    for i, ax in enumerate(axes):
        full[ax], full[x.rank + ax] = pads[i], pads[len(axes) + i]
    if min(full) < 0 or x.rank != 4 or any(full[i] for i in (0, 1, 4, 5)):
        raise imp.refuse(node, f"pads={pads} on axes {axes} of a rank-{x.rank} input: nnx's Pad2d pads the two "
                               "spatial axes of a 4-D input by amounts >= 0")
    if np.isnan(value):
        raise imp.refuse(node, "a NaN constant_value")
    return [_padded(imp, x, (full[2], full[3]), (full[6], full[7]), value)]


def _global(kind):
    def handle(imp, node, a, ins):
        x = _value(imp, node, ins[0], "input X")
        if x.rank != 4 or None in x.shape[2:]:
            raise imp.refuse(node, f"input of shape {x.shape}: nnx imports 2-D global pooling of a known size")
        return [imp.apply(kind(tuple(x.shape[2:])), [x])]
    return handle


_op("GlobalAveragePool", 22, "2-D input of a known size (an AvgPool2d over it)", "other ranks")(_global(L.AvgPool2d))
_op("GlobalMaxPool", 22, "2-D input of a known size (a MaxPool2d over it)", "other ranks")(_global(L.MaxPool2d))


@_op("Flatten", 25, "any `axis` (axis 1 is Flatten, others a Reshape)", "")
def _flatten(imp, node, a, ins):
    x = ins[0]
    if not isinstance(x, Value):
        axis = a.get("axis", 1) % max(np.ndim(x), 1)
        return [np.reshape(x, (int(np.prod(np.shape(x)[:axis])), -1))]
    axis = a.get("axis", 1)
    if not -x.rank <= axis <= x.rank:
        raise imp.bad(node, f"axis={axis} for an input of rank {x.rank}")
    axis = axis % x.rank if axis < 0 else axis
    if axis == 1:
        return [imp.apply(L.Flatten(), [x])]
    rest = x.shape[axis:]
    if axis == 0:
        return [imp.apply(L.Reshape((1, -1)), [x], (1, _prod(x.shape)))]
    if None in rest:
        raise imp.refuse(node, f"axis={axis} of an input whose sizes after it are known only at run time")
    return [imp.apply(L.Reshape((-1, _prod(rest))), [x], (_prod(x.shape[:axis]), _prod(rest)))]


def _prod(dims):
    return None if None in dims else int(np.prod(dims))


@_op("Reshape", 25, "a constant shape (0 copies a dimension, one -1; a Reshape layer, a Flatten for (0, -1))",
     "a shape computed at run time; `allowzero=1` with a 0 in the shape")
def _reshape(imp, node, a, ins):
    x, shape = ins
    if isinstance(shape, Value):
        raise imp.refuse(node, "the shape is computed at run time; nnx takes it as a constant")
    shape = list(np.asarray(shape).reshape(-1))
    if any(s is BATCH for s in shape):  # torch's x.view(x.shape[0], -1) with a dynamic batch
        if any(s is BATCH for s in shape[1:]) or not isinstance(x, Value) or x.shape[0] is not None:
            raise imp.refuse(node, "a shape built from the batch size in a place other than the batch's")
        shape[0] = 0  # the input's own batch size
    try:
        shape = [int(s) for s in shape]
    except (TypeError, ValueError):
        raise imp.refuse(node, f"shape {shape} is not a list of integers known at load time") from None
    if a.get("allowzero", 0) and 0 in shape:
        raise imp.refuse(node, f"allowzero=1 with a 0 in shape {shape}")
    if not isinstance(x, Value):
        return [np.reshape(x, L.flatten.reshaped(np.shape(x), shape, imp.node_name(node)))]
    try:
        known = L.flatten.reshaped(tuple(1 if d is None else d for d in x.shape), shape, imp.node_name(node))
    except ValueError as exc:
        raise imp.bad(node, str(exc)) from None
    out = list(known)
    for i, s in enumerate(shape):  # what depends on the batch is unknown until run time
        if x.shape and x.shape[0] is None and (s == -1 or (s == 0 and i == 0)):
            out[i] = None
    if len(shape) == 2 and x.rank >= 2 and shape[1] == -1 and shape[0] in (0,):
        return [imp.apply(L.Flatten(), [x])]
    return [imp.apply(L.Reshape(shape), [x], tuple(out))]


@_op("BatchNormalization", 15, "inference (`training_mode=0`) with constant scale, bias, mean, variance; "
     "`epsilon`", "`training_mode=1`; its extra outputs used")
def _batchnorm(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input X")
    if a.get("training_mode", 0):
        raise imp.refuse(node, "training_mode=1: nnx imports the inference form")
    if any(imp.uses.get(o) for o in node.output[1:] if o):
        raise imp.refuse(node, "its running-statistics outputs are used: nnx imports the inference form")
    scale, bias, mean, var = (np.asarray(_const(imp, node, v, w)) for v, w in zip(
        ins[1:5], ("scale", "B", "input_mean", "input_var"), strict=True))
    c = scale.size
    if any(v.shape != (c,) for v in (scale, bias, mean, var)) or (x.shape[1] is not None and x.shape[1] != c):
        raise imp.bad(node, f"scale, B, mean, var of shapes {[v.shape for v in (scale, bias, mean, var)]} for "
                            f"an input of shape {x.shape}")
    if not (np.isfinite(var).all() and (var >= 0).all()):
        raise imp.bad(node, "input_var holds negative or non-finite values")
    if x.rank not in (2, 3, 4):
        raise imp.refuse(node, f"input of rank {x.rank}: nnx's BatchNorm takes 2-D to 4-D")
    norm = L.BatchNorm2d if x.rank == 4 else L.BatchNorm1d
    m = norm(c, eps=float(a.get("epsilon", 1e-5)), dtype=x.dtype)
    m.weight.data[...], m.bias.data[...] = scale, bias
    m.running_mean[...], m.running_var[...] = mean, var
    return [imp.apply(m.eval(), [x], label=_label(node)), None, None]


def _softmax(kind):
    def handle(imp, node, a, ins):
        x = _value(imp, node, ins[0], "input")
        since = defs.get_schema(node.op_type, imp.opset, "").since_version
        axis = a.get("axis", -1 if since >= 13 else 1)
        if not -x.rank <= axis < x.rank:
            raise imp.bad(node, f"axis={axis} for an input of rank {x.rank}")
        if since < 13 and axis % x.rank != x.rank - 1:  # before opset 13 it is over all axes from `axis` on
            raise imp.refuse(node, f"version {since} with axis={axis} of a rank-{x.rank} input (a softmax over "
                                   "several axes); nnx's is over one axis")
        return [imp.apply(kind(axis), [x])]
    return handle


_op("Softmax", 13, "`axis` (any; before version 13 the last one)", "several axes (versions < 13)")(
    _softmax(L.Softmax))
_op("LogSoftmax", 13, "`axis` (any; before version 13 the last one)", "several axes (versions < 13)")(
    _softmax(L.LogSoftmax))


@_op("Clip", 13, "`min`, `max` as constants (inputs, or the attributes of version 6): torch's clamp, ReLU6, "
     "Hardtanh", "bounds computed at run time")
def _clip(imp, node, a, ins):
    x = ins[0]
    if "min" in a or "max" in a:  # version 6
        lo, hi = a.get("min"), a.get("max")
    else:
        lo, hi = (None if len(ins) <= i or ins[i] is None else _const(imp, node, ins[i], what)
                  for i, what in ((1, "min"), (2, "max")))
        for v, what in ((lo, "min"), (hi, "max")):
            if v is not None and np.size(v) != 1:
                raise imp.bad(node, f"{what} of shape {np.shape(v)}; Clip takes a scalar")
        lo, hi = (None if v is None else float(np.asarray(v).reshape(())) for v in (lo, hi))
    if not isinstance(x, Value):
        return [np.clip(x, lo, hi)]
    if lo is None and hi is None:
        return [x]
    if lo is not None and hi is not None and lo > hi:  # ONNX: every output is max then
        raise imp.refuse(node, f"min={lo} > max={hi}")
    return [imp.apply(L.Clip(lo, hi), [x])]


@_op("ReduceMax", 20, "after Gemm -> Reshape (0 or -1, k, p), over axis 2, as nnx's Maxout exports it",
     "anywhere else")
def _reduce_max(imp, node, a, ins):
    raise imp.refuse(node, "a ReduceMax that does not end a Gemm -> Reshape (0, k, p) -> ReduceMax(axis 2) Maxout")


@_op("ReduceMean", 18, "axes (2, 3) of a 4-D input of known size (global average pooling, as torch's "
     "AdaptiveAvgPool2d(1) and mean((2, 3)) export)", "other axes; `noop_with_empty_axes`")
def _reduce_mean(imp, node, a, ins):
    x = _value(imp, node, ins[0], "input data")
    axes = a.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = _const(imp, node, ins[1], "axes")
    if axes is None:
        raise imp.refuse(node, "a mean over every axis (batch included)")
    axes = sorted(int(v) % max(x.rank, 1) for v in np.ravel(axes))
    if x.rank != 4 or axes != [2, 3] or None in x.shape[2:]:
        raise imp.refuse(node, f"axes={axes} of an input of shape {x.shape}: nnx reads the mean over the two "
                               "spatial axes of a 4-D input of known size")
    h = imp.apply(L.AvgPool2d(tuple(x.shape[2:])), [x])
    if a.get("keepdims", 1):
        return [h]
    return [imp.apply(L.Flatten(), [h])]


# -- constants: folded at load time ----------------------------------------------------------------
@_op("Constant", 25, "a tensor, `value_float(s)`, `value_int(s)`", "sparse tensors; strings")
def _constant(imp, node, a, ins):
    (name, value), = a.items()
    if name == "value":
        return [_tensor(node.attribute[0].t, node.output[0], imp.where, imp.folder, imp.budget)]
    if name in ("value_float", "value_floats"):
        return [np.asarray(value, np.float32)]
    if name in ("value_int", "value_ints"):
        return [np.asarray(value, np.int64)]
    raise imp.refuse(node, f"a {name} constant")


@_op("Shape", 25, "of data whose sizes are known at load time (`start`, `end`), or of a constant",
     "sizes known only at run time")
def _shape(imp, node, a, ins):
    shape = ins[0].shape if isinstance(ins[0], Value) else np.shape(ins[0])
    if None in shape[1:]:
        raise imp.refuse(node, f"the shape {tuple(shape)} is known only at run time (export with fixed sizes, "
                               "or a constant shape)")
    part = list(shape)[slice(a.get("start", 0), a.get("end"))]
    if None in part:  # the batch: carried as BATCH through Gather/Unsqueeze/Concat into a Reshape
        return [np.array([BATCH if d is None else d for d in part], dtype=object)]
    return [np.asarray(part, np.int64)]


def _fold(fn):
    def handle(imp, node, a, ins):
        ins = [v for v in ins if v is not None]  # optional inputs left out
        if any(isinstance(v, Value) for v in ins):
            raise imp.refuse(node, "on data computed at run time; nnx folds it only on constants")
        if any(np.asarray(v).dtype == object for v in ins) and fn not in _BATCH_SAFE:
            raise imp.refuse(node, "on a shape holding the batch size, known only at run time")
        try:
            out = np.asarray(fn(a, *ins))
        except (ValueError, IndexError, TypeError) as exc:
            raise imp.bad(node, f"cannot be computed ({exc})") from None
        if out.size > MAX_VALUES:
            raise imp.bad(node, f"makes {out.size} values")
        return [out]
    return handle


def _unsqueeze(a, x, axes=None):
    axes = [int(v) for v in np.ravel(a["axes"] if axes is None else axes)]
    return np.expand_dims(x, tuple(ax % (np.ndim(x) + len(axes)) for ax in axes))


def _squeeze(a, x, axes=None):
    axes = a.get("axes") if axes is None else axes
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(int(v) % np.ndim(x) for v in np.ravel(axes)))


_CONST_DOC = "constants only (folded when the model is read)"
def _gather(a, x, i):
    return np.take(x, np.asarray(i, np.int64), axis=a.get("axis", 0))


def _join(a, *xs):
    return np.concatenate([np.atleast_1d(x) for x in xs], axis=a["axis"])


# the folds that only move a shape's entries: they carry the batch size (BATCH) of a dynamic batch
_BATCH_SAFE = (_gather, _unsqueeze, _squeeze, _join)
_op("Gather", 13, _CONST_DOC, "data computed at run time")(_fold(_gather))
_op("Unsqueeze", 25, _CONST_DOC, "data computed at run time")(_fold(_unsqueeze))
_op("Squeeze", 25, _CONST_DOC, "data computed at run time")(_fold(_squeeze))
_concat_consts = _fold(_join)


@_op("Concat", 13, "tensors computed at run time, joined along `axis` (a Concat node of a Graph: torch's `cat`); "
     "constants (folded)", "a constant joined to computed tensors")
def _concat(imp, node, a, ins):
    runtime = [isinstance(v, Value) for v in ins]
    if not any(runtime):
        return _concat_consts(imp, node, a, ins)
    if not all(runtime):
        raise imp.refuse(node, "a constant joined to tensors computed at run time; nnx's Concat joins computed "
                               "tensors")
    rank, axis = ins[0].rank, a["axis"]
    if not -rank <= axis < rank:
        raise imp.bad(node, f"axis={axis} for inputs of rank {rank}")
    axis %= rank
    if axis == 0:
        raise imp.refuse(node, "axis=0 joins batches; nnx's models keep the batch axis as it is")
    for v in ins[1:]:
        if v.rank != rank or any(p is not None and q is not None and p != q
                                 for i, (p, q) in enumerate(zip(v.shape, ins[0].shape, strict=True)) if i != axis):
            raise imp.bad(node, f"inputs of shapes {[v.shape for v in ins]} cannot be joined along axis {axis}")
    if len(ins) == 1:
        return [ins[0]]
    return [imp.apply(Concat(axis), ins)]
_CASTS = _NP  # the types nnx folds casts to
_cast_consts = _fold(lambda a, x: x.astype(_CASTS[a["to"]]))


@_op("Cast", 28, _CONST_DOC + ", to float16/32/64, (u)int8 to int64, bool", "data computed at run time; other types")
def _cast(imp, node, a, ins):
    if a["to"] not in _CASTS:
        name = TensorProto.DataType.Name(a["to"]) if a["to"] in TensorProto.DataType.values() else a["to"]
        raise imp.refuse(node, f"to={name}: nnx folds casts to float16/32/64, (u)int8 to int64 and bool")
    return _cast_consts(imp, node, a, ins)


# -- the graph -------------------------------------------------------------------------------------
def load(path):
    """The nnx model (in eval mode) an ONNX file describes: a Sequential for a chain of layers,
    a Graph when tensors branch and are added. The ops and attributes nnx reads are in docs/onnx.md
    (generated from :data:`OPS`), including what ``torch.onnx.export`` writes for the same models.

    Raises
    ------
    ValueError
        Naming what makes the file unsafe or invalid (over 2 GiB, sizes that lie, an unknown domain
        or opset, an attribute of the wrong type, a node reading what no earlier node makes, ...).
    Unsupported
        (a ``NotImplementedError`` and a ``ValueError``) naming the node, the op and the attribute
        value nnx has no layer for.
    """
    data = read_regular(path, "nnx.onnx.load", "model file", MAX_FILE)
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"nnx.onnx.load: {path}: not an ONNX model ({exc})") from None
    return from_model(proto, str(path), folder=os.path.dirname(os.path.abspath(os.fspath(path))))


def from_model(model, where="model", bind=(), folder=None):
    """The nnx model of a ``ModelProto`` (what :func:`load` does once the file is read).
    ``bind``: arrays for the graph's inputs after the first, taken as constants (ONNX's backend
    tests pass weights as inputs). ``folder``: where tensors kept outside the model may be read
    (:func:`load` passes the model file's folder; None refuses such tensors)."""
    try:
        return _from_model(model, where, bind, folder)
    except (IndexError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # a malformed graph
        raise ValueError(f"nnx.onnx.load: {where}: malformed graph ({type(exc).__name__}: {exc})") from None


def _from_model(model, where, bind, folder):
    opset = _opset(model, where)
    g = model.graph
    imp = _Importer(g, opset, where)
    imp.alias, imp.folder, imp.budget = {}, folder, [MAX_FILE]
    consts = {}
    for t in g.initializer:
        consts[t.name] = _tensor(t, t.name, where, folder, imp.budget)
    inputs = [i for i in g.input if i.name not in consts]
    if not inputs:
        raise Unsupported(f"nnx.onnx.load: {where}: the graph has no input (only constants); an nnx model computes "
                          "from one")
    for i in inputs:
        kind = i.type.WhichOneof("value")
        if kind != "tensor_type":
            raise Unsupported(f"nnx.onnx.load: {where}: graph input {i.name!r} is a {kind or 'value of no type'}; "
                              "nnx models take tensors")
    for i, value in zip(inputs[1:], bind, strict=False):
        if not isinstance(value, np.ndarray | np.generic):
            raise Unsupported(f"nnx.onnx.load: {where}: graph input {i.name!r} bound to a {type(value).__name__}; "
                              "nnx takes arrays")
        consts[i.name] = np.asarray(value)
    if len(inputs) - len(consts.keys() & {i.name for i in inputs}) != 1:
        raise Unsupported(f"nnx.onnx.load: {where}: {len(inputs)} graph inputs; an nnx model takes one")
    if len(g.output) != 1:
        raise Unsupported(f"nnx.onnx.load: {where}: {len(g.output)} graph outputs; an nnx model makes one")
    first = inputs[0]
    elem = first.type.tensor_type.elem_type
    if elem not in _FLOAT:
        raise Unsupported(f"nnx.onnx.load: {where}: input {first.name!r} is "
                          f"{TensorProto.DataType.Name(elem) if elem in TensorProto.DataType.values() else elem}; "
                          "nnx computes in float32 or float64")
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in first.type.tensor_type.shape.dim)
    imp.values.update(consts)
    imp.values[first.name] = Value("input", dims, _FLOAT[elem])
    for n in g.node:
        for t in n.input:
            imp.uses[t] = imp.uses.get(t, 0) + 1
    for o in g.output:
        imp.uses[o.name] = imp.uses.get(o.name, 0) + 1
    imp.nodes = list(g.node)
    _validate(imp, g, set(imp.values))
    for index, node in enumerate(imp.nodes):
        imp.index = index  # the handlers look ahead from it (fusions)
        if index in imp.skip:
            continue
        ins = [imp.values[imp.alias.get(t, t)] if t else None for t in node.input]
        op = OPS[node.op_type]
        outs = op.handler(imp, node, _attrs(node), ins)
        for o, v in zip(node.output, outs, strict=False):
            if o:
                imp.values[o] = v
    return _assemble(imp, g, where)


def _validate(imp, g, known):
    """Every node checked before anything is built: its schema (domain, attributes, counts), its
    inputs made by the graph's inputs or an earlier node (no cycle, nothing missing), each output
    made once; then every op nnx has no layer for, named together."""
    unsupported = []
    for node in imp.nodes:
        _check_node(imp, node)
        for t in node.input:
            if t and t not in known:
                raise imp.bad(node, f"input {t!r} is made by no earlier node (a cycle, or a missing input)")
        for o in (o for o in node.output if o):
            if o in known:
                raise imp.bad(node, f"output {o!r} is already made by the graph's inputs or an earlier node")
            known.add(o)
        op = OPS.get(node.op_type)
        if op is None:
            unsupported.append(f"{node.name or node.output[0]} ({node.op_type})")
            continue
        since = defs.get_schema(node.op_type, imp.opset, "").since_version
        if since > op.version:
            raise imp.refuse(node, f"version {since} of {node.op_type} (opset {imp.opset}); nnx reads it up to "
                                   f"version {op.version}")
    if unsupported:
        raise Unsupported(f"nnx.onnx.load: {imp.where}: ops nnx has no layer for: {', '.join(unsupported)} "
                          "(docs/onnx.md lists what it reads)")
    for o in g.output:
        if o.name not in known:
            raise ValueError(f"nnx.onnx.load: {imp.where}: the output {o.name!r} is made by no node")


def _assemble(imp, g, where):
    name = imp.alias.get(g.output[0].name, g.output[0].name)
    if name not in imp.values:
        raise ValueError(f"nnx.onnx.load: {where}: the output {g.output[0].name!r} is made by no node")
    final = imp.values[name]
    if not isinstance(final, Value):
        raise Unsupported(f"nnx.onnx.load: {where}: the output is a constant; an nnx model computes from its input")
    steps = imp.steps
    if final.name == "input":
        return Sequential().eval()  # only Identity / Dropout: the identity
    needed = _needed(steps, final.name)
    steps = [s for s in steps if s[3] in needed]
    chain = all(len(s[2]) == 1 for s in steps) and all(
        s[2] == [steps[k - 1][3] if k else "input"] for k, s in enumerate(steps)) and steps[-1][3] == final.name
    if chain:
        return Sequential(*(s[1] for s in steps)).eval()
    graph = Graph()
    names, used = {"input": graph.input("input")}, {"input"}
    for k, (label, module, parents, out, _) in enumerate(steps):
        node_name = label if label.isidentifier() and label not in used else f"n{k}"
        used.add(node_name)
        names[out] = graph.node(node_name, module, *(names[p] for p in parents))
    graph.output(names[final.name])
    return graph.eval()


def _needed(steps, final):
    """The steps the output depends on (a branch whose result nothing reads is left out)."""
    by_out = {s[3]: s for s in steps}
    need, todo = set(), [final]
    while todo:
        name = todo.pop()
        if name in need or name not in by_out:
            continue
        need.add(name)
        todo += by_out[name][2]
    return need


def op_table():
    """The markdown table of docs/onnx.md: each op, what nnx reads and what it refuses."""
    rows = ["| op | up to version | read | refused |", "|---|---|---|---|"]
    for name in sorted(OPS):
        op = OPS[name]
        rows.append(f"| {name} | {op.version} | {op.supported} | {op.refused or '-'} |")
    return "\n".join(rows) + "\n"
