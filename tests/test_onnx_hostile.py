"""Hostile and invalid ONNX files: each one that onnxruntime refuses is refused by nnx.onnx.load
too, with one ValueError naming the node (or the tensor), within 2 s and 200 MB, before anything
large is allocated; none ends in a KeyError, an IndexError, a hang or a huge allocation."""
import time
import tracemalloc

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

import nnx.onnx  # noqa: E402

F = TensorProto.FLOAT


def _model(nodes, inits=(), opset=17, shape=(1, 4), out="y", domains=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, list(shape))],
                              [helper.make_tensor_value_info(out, F, None)], list(inits))
    imports = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domains)]
    return helper.make_model(graph, opset_imports=imports)


def _raw(name, dims, data):
    """A tensor as a hostile writer makes it: dims and bytes that need not agree."""
    t = TensorProto(name=name, data_type=F, dims=list(dims))
    t.raw_data = data
    return t


def _w(name, shape):
    return helper.make_tensor(name, F, list(shape), np.ones(int(np.prod(shape)), np.float32))


def _load(tmp_path, model):
    """``nnx.onnx.load`` of ``model``'s bytes, timed (under 2 s), then again with its memory traced
    (a peak under 200 MB; tracemalloc slows Python down, so the two are measured apart)."""
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    t0 = time.perf_counter()
    try:
        nnx.onnx.load(path)
    except ValueError:
        pass
    assert time.perf_counter() - t0 < 2
    tracemalloc.start()
    try:
        return nnx.onnx.load(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 200e6, peak


def _relu(i, o, name):
    return helper.make_node("Relu", [i], [o], name=name)


def _gemm(out="y", **attrs):
    return helper.make_node("Gemm", ["x", "w"], [out], name="fc", **attrs)


def _conv(**attrs):
    return helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)


CONV_W = _w("w", (2, 1, 3, 3))
HOSTILE = {
    "node in an unknown domain": (_model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.evil")],
                                         domains=["com.evil"]), r"com\.evil"),
    "opset 99": (_model([helper.make_node("Relu", ["x"], ["y"], name="r")], opset=99), "opset 99"),
    "transB a string": (_model([_gemm(transB="yes")], [_w("w", (3, 4))]), r"fc \(Gemm\): attribute 'transB'"),
    "Conv strides a string": (_model([_conv(strides="ab")], [CONV_W], shape=(1, 1, 6, 6)),
                              r"conv \(Conv\): attribute 'strides'"),
    "Conv kernel_shape against 3x3 weights": (_model([_conv(kernel_shape=[5, 5])], [CONV_W], shape=(1, 1, 6, 6)),
                                              r"conv \(Conv\): kernel_shape=\[5, 5\]"),
    "Gemm -> Reshape [0, 20000, 20000] -> ReduceMax": (_model(
        [_gemm("h", transB=1), helper.make_node("Reshape", ["h", "s"], ["r"], name="reshape"),
         helper.make_node("ReduceMax", ["r"], ["y"], name="max", axes=[2], keepdims=0)],
        [_w("w", (6, 4)), helper.make_tensor("s", TensorProto.INT64, [3], [0, 20000, 20000])]), "reshape"),
    "a cycle": (_model([_relu("b", "a", "r1"), _relu("a", "b", "r2"), _relu("b", "y", "r3")]),
                r"r1 \(Relu\): input 'b' is made by no earlier"),
    "a missing input": (_model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")]),
                        r"add \(Add\): input 'nowhere'"),
    "an output no node makes": (_model([_relu("x", "h", "r")]), "'y' is made by no node"),
    "MaxPool without kernel_shape": (
        _model([helper.make_node("MaxPool", ["x"], ["y"], name="pool")], shape=(1, 1, 4, 4)),
        r"pool \(MaxPool\): required attribute 'kernel_shape'"),
    "data type 999": (_model([_gemm()], [helper.make_tensor("w", F, [4, 3], np.ones(12))]), "data type 999"),
    "a node with no output": (_model([helper.make_node("Relu", ["x"], [], name="r"), _relu("x", "y", "r2")]),
                              r"r \(Relu\): has no output"),
    "a 1-D Gemm weight": (_model([_gemm()], [_w("w", (4,))]), r"fc \(Gemm\): B has shape \(4,\)"),
    "huge declared dims": (_model([_gemm()], [_raw("w", [1 << 20, 1 << 20], b"")]),
                           r"tensor 'w' declares shape"),
    "raw_data shorter than its dims": (_model([_gemm()], [_raw("w", [4, 3], b"\0" * 8)]),
                                       "tensor 'w'"),
}


def _type_999(model):
    model.graph.initializer[0].data_type = 999
    return model


HOSTILE["data type 999"] = (_type_999(HOSTILE["data type 999"][0]), "data type 999")


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_give_one_clear_error(tmp_path, case):
    model, match = HOSTILE[case]
    with pytest.raises(ValueError, match=match):
        _load(tmp_path, model)


def test_ten_thousand_nodes_load_within_2_s(tmp_path):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"h{i - 1}"], [f"h{i}" if i < 9999 else "y"], name=f"r{i}")
             for i in range(10000)]
    model = _load(tmp_path, _model(nodes))
    assert len(model) == 10000


def test_garbage_in_a_valid_node_names_it(tmp_path):
    # a Conv whose weights do not fit the input's channels: a ValueError naming it, not NumPy's
    model = _model([_conv()], [_w("w", (2, 3, 3, 3))], shape=(1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"conv \(Conv\): weights of shape \(2, 3, 3, 3\) for an input of 1 channels"):
        _load(tmp_path, model)
