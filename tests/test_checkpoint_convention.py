"""One model, one meaning: a model saved by any producer (nnx.save, ModelCheckpoint, the examples'
--save, ``python -m nnx train --save`` / ``--checkpoint``, and files of the old convention, whose
metadata recorded the normalisation) gets the same accuracy, to the last digit, from every
consumer: ``nnx.load`` + ``nnx.evaluate`` on raw images, CLI evaluate, CLI predict, and the ONNX
export run by onnxruntime. The preprocessing travels inside the model (``nnx.Normalize``)."""
import importlib.util
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnx

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out


def _fit(X, y, model, epochs=3, callbacks=()):
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=epochs, batch_size=32, seed=0,
            progress=False, callbacks=list(callbacks), val_data=(X[:50], y[:50]))
    return model


def _normalized_mlp(X):
    return nnx.Sequential(nnx.Normalize(float(X.mean()), float(X.std())),
                          *nnx.models.mlp((1, 8, 8), 10, hidden=(32,), rng=0))


def _api(folder, X, y):
    nnx.save(_fit(X, y, _normalized_mlp(X)), folder / "api.npz", metadata=nnx.io.input_metadata((1, 8, 8)))


def _api_old(folder, X, y):  # the old convention: trained on standardised data, the statistics in metadata
    mean, std = float(X.mean()), float(X.std())
    model = _fit((X - mean) / std, y, nnx.models.mlp((1, 8, 8), 10, hidden=(32,), rng=0))
    nnx.save(model, folder / "api_old.npz", metadata={"input_shape": [1, 8, 8], "normalize": [mean, std]})


def _api_raw(folder, X, y):  # no preprocessing at all: the model takes raw inputs
    nnx.save(_fit(X, y, nnx.models.mlp((1, 8, 8), 10, hidden=(32,), rng=0)), folder / "api_raw.npz")


def _callback(folder, X, y):  # no metadata given: the callback records the input shape fit saw
    _fit(X, y, _normalized_mlp(X), callbacks=[nnx.callbacks.ModelCheckpoint(
        folder / "callback.npz", monitor="val_accuracy", save_best_only=False)])


def _resumable(folder, X, y):  # a checkpoint with the optimizer state: a model for every consumer too
    _fit(X, y, _normalized_mlp(X), callbacks=[nnx.callbacks.ModelCheckpoint(
        folder / "resumable.npz", save_best_only=False, save_optimizer=True)])


def _example(folder, X, y):  # per-pixel standardisation (64 values) after a Flatten
    _run("examples/digits_mlp.py", "--epochs", "2", "--threads", "1", "--save", str(folder / "example.npz"))


def _cli(folder, X, y):
    _run("-m", "nnx", "train", "--model", "mlp", "--data", "digits", "--epochs", "2", "--threads", "1",
         "--save", str(folder / "cli.npz"), "--checkpoint", str(folder / "cli_checkpoint.npz"))


PRODUCERS = {"api": _api, "api_old": _api_old, "api_raw": _api_raw, "callback": _callback,
             "resumable": _resumable, "example": _example, "cli": _cli}
NAMES = [*PRODUCERS, "cli_checkpoint"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("convention")
    X, y, Xt, yt = nnx.datasets.load_digits()
    for produce in PRODUCERS.values():
        produce(folder, X, y)
    # the test images as a float32 IDX file (type 0x0D): exactly the values load_digits returns
    idx = folder / "test-images.idx"
    idx.write_bytes(bytes([0, 0, 0x0D, 3]) + b"".join(n.to_bytes(4, "big") for n in Xt[:, 0].shape)
                    + Xt[:, 0].astype(">f4").tobytes())
    return folder, idx, Xt, yt


def _model(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj = nnx.load(path)
    model = obj["model"] if isinstance(obj, dict) else obj
    return model, [str(w.message) for w in caught]


@pytest.mark.parametrize("producer", NAMES)
def test_every_consumer_gets_the_same_accuracy(saved, producer):
    folder, idx, Xt, yt = saved
    path = folder / f"{producer}.npz"
    model, said = _model(path)
    api = nnx.evaluate(model, (Xt, yt))["accuracy"]  # raw images, nothing done to them
    assert api > 0.8, api  # a trained model, so equal numbers mean something
    # the old convention is converted, and said once; nothing else is
    assert [("now runs inside the model" in m) for m in said] == ([True] if producer == "api_old" else [])
    if producer != "api_old":
        assert "normalize" not in nnx.io.load_header(path)["metadata"]

    out = _run("-m", "nnx", "evaluate", str(path), "--data", "digits")
    cli = float(re.search(r"^accuracy: ([0-9.]+)$", out.stdout, re.M).group(1))
    assert cli == round(api, 4)

    out = _run("-m", "nnx", "predict", str(path), str(idx))
    predicted = np.array([int(line.split("\t")[1]) for line in out.stdout.splitlines()])
    assert np.mean(predicted == yt) == api

    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        import onnxruntime as ort
        _run("-m", "nnx", "export", str(path), str(folder / f"{producer}.onnx"))
        sess = ort.InferenceSession(str(folder / f"{producer}.onnx"), providers=["CPUExecutionProvider"])
        shape = sess.get_inputs()[0].shape[1:]  # what the file says one sample is (64 values without metadata)
        scores = sess.run(None, {"input": Xt.reshape(len(Xt), *shape).astype(np.float32)})[0]
        assert np.mean(scores.argmax(axis=1) == yt) == api


def test_an_old_checkpoint_comes_back_with_normalize_first(saved):
    folder, _, Xt, yt = saved
    model, said = _model(folder / "api_old.npz")
    assert isinstance(model[0], nnx.Normalize) and len(said) == 1
    mean, std = model[0].mean[0], model[0].std[0]
    rest = nnx.Sequential(*list(model)[1:])
    standardised = ((Xt - mean) / std).astype(np.float32)
    np.testing.assert_array_equal(nnx.predict(model, Xt), nnx.predict(rest, standardised))


def test_the_old_silent_standardisation_is_gone(saved):
    # a model that takes raw pixels: standardising them anyway (what the CLI once did) changes
    # the number; the convention's consumers agree with nnx.evaluate on the raw inputs
    folder, _, Xt, yt = saved
    model = nnx.load(folder / "api_raw.npz")
    raw = nnx.evaluate(model, (Xt, yt))["accuracy"]
    standardised = nnx.evaluate(model, ((Xt - Xt.mean()) / Xt.std(), yt))["accuracy"]
    assert raw != standardised


def test_a_fit_checkpoint_records_the_input_shape_fit_saw(saved):
    # predict used to refuse a LeNet-5 file written by fit's own callback: "cannot tell the image size"
    folder, _, _, _ = saved
    assert nnx.io.load_header(folder / "callback.npz")["metadata"]["input_shape"] == [1, 8, 8]
    X, y, _, _ = nnx.datasets.load_digits()
    model = nnx.models.lenet5((1, 8, 8), rng=0)
    path = folder / "lenet_cb.npz"
    _fit(X[:200], y[:200], model, epochs=1, callbacks=[nnx.callbacks.ModelCheckpoint(path, monitor="loss")])
    picture = folder / "digit.png"
    nnx.io.write_png(picture, X[0, 0])
    out = _run("-m", "nnx", "predict", str(path), str(picture))
    assert out.stdout.startswith(f"{picture}: ")


def test_malformed_convention_metadata_is_refused(tmp_path):
    model = nnx.models.mlp((1, 8, 8), 10, hidden=(8,), rng=0)
    for bad in ({"normalize": [0.5, 0.0]}, {"normalize": "x"}, {"input_shape": [0]}, {"classes": [1]}):
        with pytest.raises(ValueError, match="unusable metadata"):
            nnx.io.prepare_inputs(np.zeros((1, 1, 8, 8)), bad, model)
    with pytest.raises(ValueError, match="expects inputs of shape"):
        nnx.io.prepare_inputs(np.zeros((1, 1, 28, 28)), {}, model)
    nnx.save(model, tmp_path / "m.npz", metadata={"normalize": [0.5, -1]})
    out = subprocess.run([sys.executable, "-m", "nnx", "evaluate", str(tmp_path / "m.npz"), "--data", "digits"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "unusable metadata 'normalize'" in out.stderr


MNIST_PRODUCERS = {
    "example": ("examples/mnist_lenet5.py", "--epochs", "2", "--train-subset", "4000"),
    "cli": ("-m", "nnx", "train", "--model", "lenet5", "--data", "mnist", "--epochs", "1", "--train-subset", "4000",
            "--no-progress"),
}


@pytest.mark.parametrize("producer", MNIST_PRODUCERS)
def test_a_mnist_lenet5_agrees_everywhere(tmp_path, mnist_root, producer):
    """The issue's case: a LeNet-5 trained on MNIST (the example's --save, the CLI's): nnx.load +
    nnx.evaluate on load_mnist()'s raw pixels, CLI evaluate, CLI predict on the IDX file and
    onnxruntime give the same accuracy."""
    root = mnist_root
    path = tmp_path / "lenet.npz"
    _run(*MNIST_PRODUCERS[producer], "--root", str(root), "--save", str(path))
    _, _, Xt, yt = nnx.datasets.load_mnist(root)
    model = nnx.load(path)
    assert isinstance(model[0], nnx.Normalize)
    api = nnx.evaluate(model, (Xt, yt))["accuracy"]  # raw pixels
    assert api > 0.8, api
    out = _run("-m", "nnx", "evaluate", str(path), "--data", "mnist", "--root", str(root))
    assert float(re.search(r"^accuracy: ([0-9.]+)$", out.stdout, re.M).group(1)) == round(api, 4)
    images = Path(root) / "mnist" / "t10k-images-idx3-ubyte.gz"
    out = _run("-m", "nnx", "predict", str(path), str(images))
    predicted = np.array([int(line.split("\t")[1]) for line in out.stdout.splitlines()])
    assert np.mean(predicted == yt) == api
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        import onnxruntime as ort
        _run("-m", "nnx", "export", str(path), str(tmp_path / "lenet.onnx"))
        sess = ort.InferenceSession(str(tmp_path / "lenet.onnx"), providers=["CPUExecutionProvider"])
        scores = np.concatenate([sess.run(None, {"input": Xt[i:i + 2000]})[0] for i in range(0, len(Xt), 2000)])
        assert np.mean(scores.argmax(axis=1) == yt) == api
