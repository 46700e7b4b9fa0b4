"""Files torch writes, from both of its exporters (torch 2.13's default ``dynamo=True``, which
needs onnxscript, and the TorchScript one), load into nnx models that predict like torch (rtol
1e-4, the same argmax): an MLP, LeNet-5, a CNN with BatchNorm, Dropout, ReLU6 and Softmax, a
residual network (two blocks with skip connections), a model using ``view`` and ``torch.cat``."""
import importlib.util
import logging
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
import nnx  # noqa: E402
import nnx.onnx  # noqa: E402

tn = torch.nn


class Residual(tn.Module):
    def __init__(self):
        super().__init__()
        self.stem = tn.Conv2d(1, 8, 3, padding=1)
        self.blocks = tn.ModuleList(
            tn.ModuleList([tn.Conv2d(8, 8, 3, padding=1), tn.BatchNorm2d(8), tn.Conv2d(8, 8, 3, padding=1)])
            for _ in range(2))
        self.pool, self.fc = tn.AdaptiveAvgPool2d(1), tn.Linear(8, 10)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        for conv1, bn, conv2 in self.blocks:
            h = torch.relu(h + conv2(torch.relu(bn(conv1(h)))))
        return self.fc(torch.flatten(self.pool(h), 1))


class ViewCat(tn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = tn.Conv2d(1, 4, 3, padding=1), tn.Conv2d(1, 4, 5, padding=2)
        self.pool, self.fc = tn.MaxPool2d(3, stride=2, padding=1), tn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        h = self.pool(torch.cat([torch.relu(self.a(x)), torch.tanh(self.b(x))], dim=1))
        return torch.log_softmax(self.fc(h.view(h.shape[0], -1)), dim=1)


class Gated(tn.Module):
    """Squeeze-and-excitation gates and the other joins of two computed tensors: x * s, x - m, x / d."""

    def __init__(self):
        super().__init__()
        self.conv, self.squeeze, self.fc = tn.Conv2d(1, 8, 3, padding=1), tn.AdaptiveAvgPool2d(1), tn.Conv2d(8, 8, 1)
        self.out = tn.Linear(8 * 28 * 28, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        s = torch.sigmoid(self.fc(self.squeeze(h)))  # (N, 8, 1, 1)
        h = (h * s - self.squeeze(h)) / (1.5 + s)
        return self.out(torch.flatten(h, 1))


def _models():
    return {
        "mlp": tn.Sequential(tn.Flatten(), tn.Linear(784, 64), tn.ReLU(), tn.Linear(64, 10)),
        "lenet5": tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(6, 16, 5),
                                tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Linear(400, 120), tn.ReLU(),
                                tn.Linear(120, 84), tn.ReLU(), tn.Linear(84, 10)),
        "cnn_bn_dropout": tn.Sequential(tn.Conv2d(1, 8, 3), tn.BatchNorm2d(8), tn.ReLU(), tn.AvgPool2d(2),
                                        tn.Dropout(0.3), tn.Flatten(), tn.Linear(8 * 13 * 13, 32), tn.BatchNorm1d(32),
                                        tn.ReLU6(), tn.Dropout(0.2), tn.Linear(32, 10), tn.Softmax(dim=1)),
        "residual": Residual(),
        "view_cat": ViewCat(),
        "gated": Gated(),
    }


EXPORTERS = ["dynamo", "torchscript"]


def _export(model, x, path, exporter):
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("torch's default exporter needs onnxscript (NNX_TEST_TORCH=1 installs it)")
    logging.disable(logging.WARNING)  # the dynamo exporter's progress lines
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":  # torch's default: weights in a .onnx.data file beside the model
                torch.onnx.export(model, (x,), str(path), dynamo=True)
            else:
                torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"],
                                  dynamic_axes={"input": {0: "batch"}})
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(_models()))
def test_torch_models_load_and_predict_like_torch(tmp_path, name, exporter):
    torch.manual_seed(0)
    model = _models()[name]
    for m in model.modules():  # statistics that are not the defaults
        if isinstance(m, tn.BatchNorm1d | tn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(6, 1, 28, 28)
    _export(model, x, tmp_path / "m.onnx", exporter)
    back = nnx.onnx.load(tmp_path / "m.onnx")
    assert not back.training
    with torch.no_grad():
        want = model(x).numpy()
    got = back(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))
    if name in ("residual", "view_cat", "gated"):
        assert isinstance(back, nnx.Graph)
    if exporter == "torchscript":  # exported with a dynamic batch: any batch size runs
        with torch.no_grad():
            np.testing.assert_allclose(back(x[:2].numpy()), model(x[:2]).numpy(), rtol=1e-4, atol=1e-5)


def test_the_default_exporter_writes_data_beside_the_model_and_nnx_reads_it_there_only(tmp_path):
    model = _models()["lenet5"].eval()
    x = torch.randn(2, 1, 28, 28)
    _export(model, x, tmp_path / "m.onnx", "dynamo")
    assert (tmp_path / "m.onnx.data").is_file()
    nnx.onnx.load(tmp_path / "m.onnx")
    import onnx
    proto = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    for location in ("/etc/passwd", "../m.onnx.data", "sub/../../x"):
        t = next(t for t in proto.graph.initializer if t.external_data)
        next(e for e in t.external_data if e.key == "location").value = location
        (tmp_path / "evil.onnx").write_bytes(proto.SerializeToString())
        with pytest.raises(ValueError, match="outside the model's folder"):
            nnx.onnx.load(tmp_path / "evil.onnx")
    (tmp_path / "link").symlink_to("/etc")
    next(e for e in t.external_data if e.key == "location").value = "link/passwd"
    (tmp_path / "evil.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="leads outside the model's folder"):
        nnx.onnx.load(tmp_path / "evil.onnx")
    next(e for e in t.external_data if e.key == "location").value = "m.onnx.data"
    (tmp_path / "m.onnx.data").write_bytes(b"\0" * 16)  # shorter than the declared dims
    (tmp_path / "evil.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="fewer than offset|length"):
        nnx.onnx.load(tmp_path / "evil.onnx")
