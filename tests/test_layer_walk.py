"""Every built-in layer answers, itself, what the rest of nnx asks of it (Module's hooks): its
output shape (checked against a forward pass), its FLOPs (as nnx.summary shows them), its
gradients (gradcheck in float64), a checkpoint round trip, and an ONNX export re-imported (with
the onnx extra). A layer added to nnx without a case here fails the first test: nothing is
forgotten by memory any more."""
import copy
import importlib.util
import pickle

import numpy as np
import pytest

import nnx
from nnx.module import _BUILTIN


def _residual(dtype):
    g = nnx.Graph()
    x = g.input("x")
    h = g.node("fc", nnx.Linear(6, 6, dtype=dtype, rng=0), x)
    g.output(g.node("add", nnx.Add(), x, h))
    return g


def _concat(dtype):
    g = nnx.Graph()
    x = g.input("x")
    h = g.node("fc", nnx.Linear(6, 3, dtype=dtype, rng=0), x)
    g.output(g.node("cat", nnx.Concat(axis=1), x, h))
    return g


def _binary(cls, dtype):
    g = nnx.Graph()
    x = g.input("x")
    gate = g.node("gate", nnx.Sigmoid(), g.node("fc", nnx.Linear(6, 1, dtype=dtype, rng=0), x))  # (4, 1), in (0, 1)
    g.output(g.node("join", cls(), x, gate))
    return g


# class name -> (factory(dtype), input shape)
CASES = {
    "Linear": (lambda dt: nnx.Linear(5, 3, dtype=dt, rng=0), (4, 5)),
    "Conv2d": (lambda dt: nnx.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dtype=dt, rng=0), (2, 2, 7, 6)),
    "MaxPool2d": (lambda dt: nnx.MaxPool2d(2), (2, 3, 6, 6)),
    "AvgPool2d": (lambda dt: nnx.AvgPool2d((3, 2), stride=(1, 2)), (2, 3, 7, 6)),
    "Flatten": (lambda dt: nnx.Flatten(), (2, 3, 4, 5)),
    "Reshape": (lambda dt: nnx.Reshape((0, 4, -1)), (2, 3, 4, 5)),
    "ReLU": (lambda dt: nnx.ReLU(), (4, 6)),
    "LeakyReLU": (lambda dt: nnx.LeakyReLU(0.1), (4, 6)),
    "ELU": (lambda dt: nnx.ELU(0.5), (4, 6)),
    "Sigmoid": (lambda dt: nnx.Sigmoid(), (4, 6)),
    "Tanh": (lambda dt: nnx.Tanh(), (4, 6)),
    "Maxout": (lambda dt: nnx.Maxout(6, 3, 2, dtype=dt, rng=0), (4, 6)),
    "Dropout": (lambda dt: nnx.Dropout(0.3, rng=0), (4, 6)),
    "BatchNorm1d": (lambda dt: nnx.BatchNorm1d(6, dtype=dt), (8, 6)),
    "Normalize": (lambda dt: nnx.Normalize([0.5, -1.0, 2.0], [2.0, 0.5, 1.5], dtype=dt), (2, 3, 4, 5)),
    "BatchNorm2d": (lambda dt: nnx.BatchNorm2d(3, dtype=dt), (4, 3, 5, 5)),
    "Sequential": (lambda dt: nnx.Sequential(nnx.Linear(6, 5, dtype=dt, rng=0), nnx.ReLU(),
                                             nnx.Linear(5, 2, dtype=dt, rng=1)), (4, 6)),
    "Permute": (lambda dt: nnx.Permute((0, 2, 3, 1)), (2, 3, 4, 5)),
    "Pad2d": (lambda dt: nnx.Pad2d((1, 0, 2, 3), value=0.5), (2, 3, 4, 5)),
    "Clip": (lambda dt: nnx.Clip(-0.5, 0.7), (4, 6)),
    "Softmax": (lambda dt: nnx.Softmax(axis=1), (2, 3, 4, 5)),
    "LogSoftmax": (lambda dt: nnx.LogSoftmax(axis=-1), (4, 6)),
    "Graph": (_residual, (4, 6)),
    "Add": (_residual, (4, 6)),  # Add joins branches: it is walked inside a residual Graph
    "Concat": (_concat, (4, 6)),  # so do Concat and the binary joins (b broadcast from (4, 1))
    "Sub": (lambda dt: _binary(nnx.Sub, dt), (4, 6)),
    "Mul": (lambda dt: _binary(nnx.Mul, dt), (4, 6)),
    "Div": (lambda dt: _binary(nnx.Div, dt), (4, 6)),
}
LAYERS = sorted(name for name, cls in _BUILTIN.items() if not issubclass(cls, nnx.Loss))


def test_every_built_in_layer_has_a_case():
    assert set(CASES) == set(LAYERS), f"add a case for {sorted(set(LAYERS) - set(CASES))}"


def _input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _warm(m, shape, dtype):
    """One training-mode forward (BatchNorm's running statistics move off their defaults), then
    eval mode: the form checkpoints and ONNX describe."""
    m.train()
    m.forward(_input(shape, dtype, seed=1))
    return m.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_shape_and_flops_match_a_forward_pass_and_the_summary(name):
    make, shape = CASES[name]
    m = make(np.float32)
    y = m.forward(_input(shape, np.float32))
    assert m.output_shape(shape) == y.shape
    flops = m.flops(shape)
    assert isinstance(flops, int) and flops >= 0
    table = nnx.summary(m, shape, print_table=False)
    assert table.total_flops == flops
    if name == "Add":
        add = {n: mod for n, mod, _ in m.nodes()}["add"]
        assert add.output_shape((4, 6), (4, 6)) == (4, 6) and add.flops((4, 6), (4, 6)) == 24


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_in_float64(name):
    make, shape = CASES[name]
    m = make(np.float64)
    if name == "Dropout":
        m.reuse_mask = True  # finite differences call forward many times: one mask
    assert nnx.gradcheck(m, _input(shape, np.float64))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_checkpoint_round_trips(name, tmp_path):
    make, shape = CASES[name]
    m = _warm(make(np.float32), shape, np.float32)
    nnx.save(m, tmp_path / "m.npz")
    back = nnx.load(tmp_path / "m.npz").eval()
    x = _input(shape, np.float32, seed=2)
    np.testing.assert_array_equal(back.forward(x), m.forward(x))


# onnxruntime's CPU provider has no float64 kernel for these ops (its own gap: the file is valid)
ORT_NO_FLOAT64 = {"Conv2d": "Conv", "ELU": "Elu", "MaxPool2d": "MaxPool", "AvgPool2d": "AveragePool",
                  "BatchNorm1d": "BatchNormalization", "BatchNorm2d": "BatchNormalization", "Maxout": "ReduceMax",
                  "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "LeakyReLU": "LeakyRelu", "Sigmoid": "Sigmoid",
                  "Tanh": "Tanh", "Pad2d": "Pad", "Clip": "Clip"}


# BatchNorm's epsilon, LeakyReLU's and ELU's alpha: float attributes, which ONNX stores in float32
FLOAT32_ATTRIBUTES = {"BatchNorm1d", "BatchNorm2d", "LeakyReLU", "ELU"}


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_exports_and_reimports(name, dt, tmp_path):
    """Export (checked by onnx.checker with full_check), onnxruntime, and nnx's own import: the
    re-imported model is the same layers with the same weights, so its output is the same bits."""
    if importlib.util.find_spec("onnx") is None:
        pytest.skip("needs the onnx extra (NNX_TEST_EXTRAS=1)")
    make, shape = CASES[name]
    m = _warm(make(dt), shape, dt)
    nnx.onnx.export(m, tmp_path / "m.onnx", shape[1:], dtype=dt)  # runs onnx.checker.check_model(full_check=True)
    x = _input(shape, dt, seed=3)
    ref = m.forward(x)
    back = nnx.onnx.load(tmp_path / "m.onnx")
    got = back.forward(x)
    assert got.dtype == ref.dtype
    if dt == np.float64 and name in FLOAT32_ATTRIBUTES:  # a float32 attribute is off by up to 6e-8 relative
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    else:
        np.testing.assert_array_equal(got, ref)
    if importlib.util.find_spec("onnxruntime") is not None and not (dt == np.float64 and name in ORT_NO_FLOAT64):
        import onnxruntime as ort
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        tol = 1e-5 if dt == np.float32 else 1e-12
        np.testing.assert_allclose(session.run(None, {"input": x})[0], ref, rtol=tol, atol=tol)


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _arrays(v)


@pytest.mark.parametrize("name", sorted(CASES))
def test_caches_are_dropped_and_never_serialised(name):
    """A forward cache holds the training batch: pickling or copying a layer never carries it, and
    clear_caches leaves no array but the parameters and buffers (every cache is in CACHE_ATTRS)."""
    make, shape = CASES[name]
    m = make(np.float64).train()
    x = _input(shape, np.float64, seed=5) + 0.123
    y = m.forward(x)
    rows = [x.reshape(-1, shape[-1])[0].tobytes(), np.asarray(y).reshape(-1)[:shape[-1]].tobytes()]
    for blob in (pickle.dumps(m), pickle.dumps(copy.deepcopy(m))):
        assert not any(r in blob for r in rows), f"{name}: a pickle carries the batch"
    assert len(pickle.dumps(m)) < 4 * sum(a.nbytes for a in m.state_dict().values()) + 20000
    m.clear_caches()
    for mod in m.modules():
        held = [k for k, v in vars(mod).items() if k not in mod._buffers and any(True for _ in _arrays(v))]
        assert not held, f"{type(mod).__name__} keeps arrays in {held} after clear_caches"
    with pytest.raises(RuntimeError, match="call forward in training mode"):
        m.backward(np.ones_like(y))


def test_reseed_gives_each_random_layer_its_own_stream():
    model = nnx.Sequential(nnx.Dropout(0.5), nnx.Linear(4, 4, rng=0), nnx.Dropout(0.5))
    drawers = [m for m in model.modules() if m.draws_random]
    assert drawers == [model[0], model[2]]
    model.reseed(np.random.SeedSequence(7))
    a = [d.get_generator().random(3) for d in drawers]
    model.reseed(np.random.SeedSequence(7))
    b = [d.get_generator().random(3) for d in drawers]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])
    with pytest.raises(NotImplementedError, match="Linear draws no random numbers"):
        model[1].set_generator(np.random.default_rng())
    with pytest.raises(NotImplementedError, match="Linear draws no random numbers"):
        model[1].get_generator()


def test_sample_shape_and_filters_come_from_the_first_layer_that_knows():
    mlp = nnx.models.mlp((1, 8, 8), 10, hidden=(16,), rng=0)
    assert mlp.sample_shape() == (64,)
    cnn = nnx.Sequential(nnx.Conv2d(1, 4, 3, rng=0), nnx.ReLU(), nnx.Flatten(), nnx.Linear(4 * 6 * 6, 10, rng=1))
    assert cnn.sample_shape() == (1, None, None) and cnn.filters() is cnn[0].weight.data
    assert mlp.filters() is None and nnx.ReLU().sample_shape() is None
