"""One checkpoint convention (nnx.io.inputs): a model saved by any producer (nnx.save,
ModelCheckpoint, the examples' --save, ``python -m nnx train --save``) gets the same accuracy, to
the last digit, from every consumer (nnx.evaluate on prepare_inputs, CLI evaluate, CLI predict)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnx

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out


def _fit(X, y, epochs=3, callbacks=()):
    model = nnx.models.mlp((1, 8, 8), 10, hidden=(32,), rng=0)
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=epochs, batch_size=32, seed=0,
            progress=False, callbacks=list(callbacks), val_data=(X[:50], y[:50]))
    return model


def _api(folder, X, y):
    mean, std = float(X.mean()), float(X.std())
    model = _fit((X - mean) / std, y)
    nnx.save(model, folder / "api.npz", metadata=nnx.io.input_metadata((1, 8, 8), (mean, std)))


def _api_raw(folder, X, y):  # no metadata: the model takes raw inputs, and consumers say so
    nnx.save(_fit(X, y), folder / "api_raw.npz")


def _callback(folder, X, y):
    mean, std = float(X.mean()), float(X.std())
    meta = nnx.io.input_metadata((1, 8, 8), (mean, std))
    _fit((X - mean) / std, y, callbacks=[nnx.callbacks.ModelCheckpoint(
        folder / "callback.npz", monitor="val_accuracy", save_best_only=False, metadata=meta)])


def _example(folder, X, y):  # flattened input, per-pixel standardisation
    _run("examples/digits_mlp.py", "--epochs", "2", "--threads", "1", "--save", str(folder / "example.npz"))


def _cli(folder, X, y):
    _run("-m", "nnx", "train", "--model", "mlp", "--data", "digits", "--epochs", "2", "--threads", "1",
         "--save", str(folder / "cli.npz"))


PRODUCERS = {"api": _api, "api_raw": _api_raw, "callback": _callback, "example": _example, "cli": _cli}


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


@pytest.mark.parametrize("producer", PRODUCERS)
def test_every_consumer_gets_the_same_accuracy(saved, producer):
    folder, idx, Xt, yt = saved
    path = folder / f"{producer}.npz"
    model, header = nnx.io.load_with_header(path)
    meta = header["metadata"]
    api = nnx.evaluate(model, (nnx.io.prepare_inputs(Xt, meta, model), yt))["accuracy"]
    assert api > 0.8, api  # a trained model, so equal numbers mean something

    out = _run("-m", "nnx", "evaluate", str(path), "--data", "digits")
    cli = float(re.search(r"^accuracy: ([0-9.]+)$", out.stdout, re.M).group(1))
    assert cli == round(api, 4)
    assert ("records no input normalisation" in out.stderr) == (producer == "api_raw")

    out = _run("-m", "nnx", "predict", str(path), str(idx))
    predicted = np.array([int(line.split("\t")[1]) for line in out.stdout.splitlines()])
    assert np.mean(predicted == yt) == api


def test_the_old_silent_standardisation_is_gone(saved):
    # a model that takes raw pixels: standardising them anyway (what the CLI used to do) changes
    # the number; the convention's consumers agree with nnx.evaluate on the raw inputs
    folder, _, Xt, yt = saved
    model = nnx.load(folder / "api_raw.npz")
    raw = nnx.evaluate(model, (Xt, yt))["accuracy"]
    standardised = nnx.evaluate(model, ((Xt - Xt.mean()) / Xt.std(), yt))["accuracy"]
    assert raw != standardised


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


def test_the_mnist_example_checkpoint_agrees_everywhere(tmp_path, mnist_root):
    """examples/mnist_lenet5.py --save (scalar normalisation, a CNN): nnx.evaluate, CLI evaluate
    and CLI predict on the MNIST test images give the same accuracy."""
    root = mnist_root
    path = tmp_path / "lenet.npz"
    _run("examples/mnist_lenet5.py", "--epochs", "2", "--train-subset", "4000", "--save", str(path))
    _, _, Xt, yt = nnx.datasets.load_mnist(root)
    model, header = nnx.io.load_with_header(path)
    api = nnx.evaluate(model, (nnx.io.prepare_inputs(Xt, header["metadata"], model), yt))["accuracy"]
    assert api > 0.8, api
    out = _run("-m", "nnx", "evaluate", str(path), "--data", "mnist")
    assert float(re.search(r"^accuracy: ([0-9.]+)$", out.stdout, re.M).group(1)) == round(api, 4)
    images = Path(root) / "mnist" / "t10k-images-idx3-ubyte.gz"
    out = _run("-m", "nnx", "predict", str(path), str(images))
    predicted = np.array([int(line.split("\t")[1]) for line in out.stdout.splitlines()])
    assert np.mean(predicted == yt) == api
