"""ONNX export: a Sequential or Graph of built-in layers as an ONNX model (opset 17, IR version 8,
so current runtimes and older ones load it) in its inference form -- BatchNorm with its running
statistics, Dropout dropped, Normalize as Sub and Div. Each layer writes its own nodes
(``Module.onnx``) through the writer below. Initializers carry the model's ``state_dict`` names.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..io.atomic import atomic_write
from ..module import Module

#: The ONNX opset ``export`` writes.
OPSET = 17
#: The ONNX IR version ``export`` writes (8: what current runtimes and older ones load).
IR_VERSION = 8
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


def export(model, path, input_shape, *, dynamic_batch=True, dtype=None):
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
    dtype : numpy dtype, optional
        float32 or float64. By default the dtype of the model's parameters and buffers; a model
        with neither (activations, Reshape, Pad2d) is written in float32 unless ``dtype`` says.

    Raises
    ------
    ValueError
        Naming the layer that has no ONNX form (a custom Module, a Graph with several inputs).
    """
    if not isinstance(model, Module):
        raise TypeError(f"nnx.onnx.export: model: expected an nnx Module, got {type(model).__name__}")
    held = {p.data.dtype for p in model.parameters()}
    held |= {b.dtype for _, b in model.named_buffers() if b.dtype.kind == "f"}
    want = None if dtype is None else np.dtype(dtype)
    if want is not None and want not in _DTYPES:
        raise ValueError(f"nnx.onnx.export: dtype: expected float32 or float64, got {want}")
    if len(held) > 1 or (want is not None and held and held != {want}):
        raise ValueError(f"nnx.onnx.export: the model holds {sorted(map(str, held))}"
                         + (f", dtype asks for {want}" if want is not None else "") + "; ONNX export needs one dtype")
    dtype = held.pop() if held else (want or np.dtype(np.float32))
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
