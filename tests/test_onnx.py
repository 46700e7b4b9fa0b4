"""nnx.onnx: export checked by onnx's full checker and run by onnxruntime against nnx's eval
forward; load reads the files back (and torch's) into equal models; hostile files refused."""
import re
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nnx  # noqa: E402
import nnx.onnx  # noqa: E402


def _mlp(dt):
    return nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 32, dtype=dt, rng=0), nnx.ReLU(),
                          nnx.Linear(32, 16, dtype=dt, rng=1), nnx.Tanh(), nnx.Maxout(16, 8, 3, dtype=dt, rng=2),
                          nnx.ELU(), nnx.Linear(8, 12, dtype=dt, rng=3), nnx.LeakyReLU(0.25),
                          nnx.Linear(12, 10, dtype=dt, rng=4), nnx.Sigmoid())


def _cnn(dt):  # BatchNorm with real statistics, Dropout, both poolings
    return nnx.Sequential(nnx.Conv2d(1, 4, 3, padding=1, dtype=dt, rng=0), nnx.BatchNorm2d(4, dtype=dt), nnx.ReLU(),
                          nnx.MaxPool2d(2), nnx.Conv2d(4, 6, 3, stride=1, dtype=dt, rng=1), nnx.AvgPool2d(2),
                          nnx.Dropout(0.3), nnx.Flatten(), nnx.Linear(6, 10, dtype=dt, rng=2),
                          nnx.BatchNorm1d(10, dtype=dt))


def _residual(dt):
    g = nnx.Graph()
    flat = g.node("flat", nnx.Flatten(), g.input("x"))
    a = g.node("fc1", nnx.Linear(64, 64, dtype=dt, rng=0), flat)
    b = g.node("fc2", nnx.Linear(64, 64, dtype=dt, rng=1), g.node("relu", nnx.ReLU(), a))
    g.output(g.node("out", nnx.Linear(64, 10, dtype=dt, rng=2), g.node("add", nnx.Add(), b, a)))
    return g


def _trained(build, dt):
    """A few steps on the digits, so BatchNorm's running statistics are not the defaults."""
    X, y, _, _ = nnx.datasets.load_digits()
    model = build(dt)
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:256].astype(dt), y[:256]), epochs=1, seed=0, progress=False)
    return model.eval()


def _ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


CASES = [("mlp", _mlp), ("cnn", _cnn), ("residual", _residual)]


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, build", CASES, ids=[c[0] for c in CASES])
def test_export_runs_in_onnxruntime_and_loads_back(tmp_path, name, build, dt):
    model = _trained(build, dt)
    x = nnx.datasets.load_digits()[2][:50].astype(dt)
    ref = model(x)
    path = tmp_path / f"{name}.onnx"
    nnx.onnx.export(model, path, (1, 8, 8))
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17 and proto.ir_version == 8
    names = {t.name for t in proto.graph.initializer}
    assert {k for k in model.state_dict() if not k.endswith("num_batches_tracked")} <= names
    if dt == np.float32 or name == "residual":  # onnxruntime's CPU provider lacks float64 Conv and Elu
        np.testing.assert_allclose(_ort(path, x), ref, rtol=1e-4, atol=1e-5 if dt == np.float32 else 1e-10)
    back = nnx.onnx.load(path)
    assert type(back) is type(model) and not back.training
    # float64: ONNX keeps activation attributes (LeakyReLU's slope, ELU's alpha) as float32
    np.testing.assert_allclose(back(x), ref, rtol=0 if dt == np.float32 else 1e-9, atol=0 if dt == np.float32 else 1e-9)


def test_dynamic_and_fixed_batch(tmp_path):
    model = _trained(_mlp, np.float32)
    x = np.random.default_rng(0).random((7, 1, 8, 8), dtype=np.float32)
    nnx.onnx.export(model, tmp_path / "d.onnx", (1, 8, 8))
    assert _ort(tmp_path / "d.onnx", x).shape == (7, 10)
    nnx.onnx.export(model, tmp_path / "f.onnx", (1, 8, 8), dynamic_batch=False)
    assert onnx.load(tmp_path / "f.onnx").graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_a_custom_module_is_named(tmp_path):
    class Square(nnx.Module):
        def forward(self, x):
            return x * x

    model = nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 10, rng=0), Square())
    with pytest.raises(ValueError, match=r"layer 2 \(Square\) cannot be exported"):
        nnx.onnx.export(model, tmp_path / "x.onnx", (1, 8, 8))
    assert not (tmp_path / "x.onnx").exists()


def test_unsupported_ops_are_all_listed(tmp_path):
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Relu", ["input"], ["a"], name="r"),
             helper.make_node("Softplus", ["a"], ["b"], name="sp"),
             helper.make_node("Cos", ["b"], ["output"], name="cos")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "u.onnx")
    with pytest.raises(ValueError, match=r"sp \(Softplus\), cos \(Cos\)"):
        nnx.onnx.load(tmp_path / "u.onnx")


def test_hostile_files_are_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ValueError, match="not an ONNX model"):
        nnx.onnx.load(tmp_path / "junk.onnx")
    model = _trained(_mlp, np.float32)
    nnx.onnx.export(model, tmp_path / "m.onnx", (1, 8, 8))
    proto = onnx.load(tmp_path / "m.onnx")
    t = proto.graph.initializer[0]  # forged: its data "lives" in a file outside the model's folder
    t.data_location = onnx.TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../outside.bin"
    t.ClearField("raw_data")
    (tmp_path / "ext.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="outside the model.s folder"):
        nnx.onnx.load(tmp_path / "ext.onnx")


def test_files_torch_writes_load_into_equal_models(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                             torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                             torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                             torch.nn.Linear(120, 10))
    tm[1].running_mean.uniform_(-1, 1)
    tm[1].running_var.uniform_(0.5, 2)
    tm.eval()
    x = torch.randn(4, 1, 28, 28)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the TorchScript exporter: torch 2.13's default (dynamo) one needs onnxscript
        torch.onnx.export(tm, (x,), str(tmp_path / "t.onnx"), opset_version=17, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    back = nnx.onnx.load(tmp_path / "t.onnx")
    np.testing.assert_allclose(back(x.numpy()), tm(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_trained_lenet_gives_the_same_argmax_on_all_of_mnist(tmp_path, mnist_root):
    root = mnist_root
    X, y, Xt, yt = nnx.datasets.load_mnist(root)
    model = nnx.models.lenet5((1, 28, 28), rng=0)
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:12000], y[:12000]), epochs=1, batch_size=64, seed=0,
            progress=False)
    ours = nnx.predict(model, Xt)
    nnx.onnx.export(model, tmp_path / "lenet.onnx", (1, 28, 28))
    theirs = _ort(tmp_path / "lenet.onnx", Xt)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4)
    assert np.array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))
    assert (ours.argmax(axis=1) == yt).mean() > 0.9


def test_cli_export(tmp_path):
    X, y, _, _ = nnx.datasets.load_digits()
    model = _trained(_mlp, np.float32)
    nnx.save(model, tmp_path / "m.npz", metadata=nnx.io.input_metadata((1, 8, 8)))
    out = subprocess.run([sys.executable, "-m", "nnx", "export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout
    np.testing.assert_allclose(_ort(tmp_path / "m.onnx", X[:20]), model(X[:20]), rtol=1e-4, atol=1e-5)


def test_a_cli_trained_lenet_scores_the_same_in_onnxruntime_on_raw_mnist(tmp_path, mnist_root):
    """The preprocessing travels in the model (its Normalize first layer, Sub and Div in ONNX):
    `python -m nnx evaluate`, nnx.evaluate(nnx.load(...)) and onnxruntime on the file `nnx export`
    writes give one accuracy on the raw test images."""
    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "nnx", *args, "--root", str(mnist_root)] if args[0] != "export"
                             else [sys.executable, "-m", "nnx", *args], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout
    model = tmp_path / "lenet.npz"
    cli("train", "--model", "lenet5", "--data", "mnist", "--epochs", "1", "--train-subset", "6000",
        "--save", str(model), "--no-progress")
    report = cli("evaluate", str(model), "--data", "mnist")
    evaluated = float(re.search(r"^accuracy: ([0-9.]+)$", report, re.M).group(1))
    cli("export", str(model), str(tmp_path / "lenet.onnx"))
    _, _, Xt, yt = nnx.datasets.load_mnist(mnist_root)
    in_onnxruntime = (_ort(tmp_path / "lenet.onnx", Xt).argmax(axis=1) == yt).mean()
    in_nnx = nnx.evaluate(nnx.load(model), (Xt, yt))["accuracy"]
    assert round(in_onnxruntime, 4) == round(in_nnx, 4) == evaluated > 0.8
