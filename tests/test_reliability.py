"""Reliability, second round: a saved or pickled model never carries its training data, garbage
never replaces good work, files that are not regular files are refused, and every reader raises
only its documented errors on malformed input."""
import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import nnx

CACHES = nnx.Module.CACHE_ATTRS


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = nnx.datasets.load_digits()
    return X, y


def _rows(X):
    """Every training row's bytes (float32 and float64: an estimator may train on either)."""
    flat = X.reshape(len(X), -1)
    return [r.tobytes() for r in flat.astype(np.float32)] + [r.tobytes() for r in flat.astype(np.float64)]


def _leaks(blob, rows):
    return sum(r in blob for r in rows)


def _no_caches(model):
    return all(m.__dict__.get(a) is None for m in model.modules() for a in CACHES)


# -- 2. no training data in anything serialised ----------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn (NNX_TEST_EXTRAS=1)")
@pytest.mark.parametrize("kind", ["mlp", "lenet5"])
def test_a_pickled_estimator_carries_no_training_rows(digits, kind):
    from nnx.sklearn import NNXClassifier
    X, y = digits
    X = X.reshape(len(X), -1)[:1000]
    y = y[:1000]
    extra = {"module": nnx.models.lenet5, "input_shape": (1, 8, 8)} if kind == "lenet5" else {}
    clf = NNXClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0, **extra).fit(X, y)
    assert _no_caches(clf.model_)
    blob = pickle.dumps(clf)
    assert _leaks(blob, _rows(X)) == 0
    weights = sum(a.nbytes for a in clf.model_.state_dict().values())
    assert len(blob) < 4 * weights + 100_000  # weights, Adam's two moments, and little else
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    back.partial_fit(X, y)  # the optimizer's state came along, keyed to the new parameters
    assert len(back._opt.state) == len(list(back.model_.parameters()))


def test_a_model_mid_training_serialises_without_its_batch(digits, tmp_path):
    X, y = digits
    model = nnx.Sequential(nnx.Normalize(0.3, 0.37), *nnx.models.lenet5((1, 8, 8), rng=0))
    loss = nnx.SoftmaxCrossEntropy()
    batch = X[:32]
    loss(model(batch), y[:32])
    model.backward(loss.backward())  # caches full: the moment a careless save would copy them
    rows = _rows(batch) + _rows((batch - np.float32(0.3)) / np.float32(0.37))
    assert _leaks(pickle.dumps(model), rows) == 0 and _leaks(pickle.dumps(loss), rows) == 0
    model.backward(loss.backward())  # the live model keeps its caches: pickling copied, not cleared
    nnx.save(model, tmp_path / "m.npz")
    assert _leaks((tmp_path / "m.npz").read_bytes(), rows) == 0
    if importlib.util.find_spec("onnx"):
        nnx.onnx.export(model, tmp_path / "m.onnx", (1, 8, 8))
        assert _leaks((tmp_path / "m.onnx").read_bytes(), rows) == 0
    if importlib.util.find_spec("safetensors"):
        nnx.io.save_safetensors(model, tmp_path / "m.safetensors")
        assert _leaks((tmp_path / "m.safetensors").read_bytes(), rows) == 0


def test_fit_and_predict_leave_no_caches(digits):
    X, y = digits
    model = nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 16, rng=0), nnx.BatchNorm1d(16), nnx.ReLU(),
                           nnx.Dropout(0.1), nnx.Linear(16, 10, rng=1))
    nnx.fit(model, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=0.05), (X, y), progress=False)
    assert _no_caches(model)
    model.eval()
    model(X[:8])  # eval-mode BatchNorm caches what an eval-mode backward needs
    nnx.predict(model, X[:8])
    assert _no_caches(model)


# -- 4. files that are not files --------------------------------------------------------------------
def _readers():
    from nnx.io.images import read_image
    out = {"nnx.load": nnx.load, "load_header": nnx.io.load_header, "read_idx": lambda p: nnx.io.read_idx(p, 3),
           "read_png": nnx.io.read_png, "read_image": read_image}
    if importlib.util.find_spec("safetensors"):
        out["load_safetensors"] = nnx.io.load_safetensors
    if importlib.util.find_spec("onnx"):
        out["onnx.load"] = lambda p: nnx.onnx.load(p)
    return out


class _Alarm:
    """Fail instead of hanging: a reader that blocks is a failure, not a stuck test run."""

    def __enter__(self):
        import signal
        self.old = signal.signal(signal.SIGALRM, self._ring)
        signal.alarm(10)

    def _ring(self, *_):
        raise AssertionError("the reader blocked")

    def __exit__(self, *exc):
        import signal
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)
        return False


@pytest.mark.parametrize("reader", sorted(_readers()))
@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_readers_refuse_what_is_not_a_regular_file(tmp_path, reader, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"  # st_size 0, and endless: a size cap from st_size alone reads forever
    else:
        path = tmp_path
    with _Alarm(), pytest.raises((ValueError, OSError)) as err:
        _readers()[reader](path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, IsADirectoryError) == (kind == "directory")


def test_the_cli_refuses_pipes_instead_of_hanging(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    model = tmp_path / "m.npz"
    nnx.save(nnx.models.mlp(64, 10, rng=0), model, metadata=nnx.io.input_metadata((1, 8, 8)))
    picture = tmp_path / "d.png"
    nnx.io.write_png(picture, np.zeros((8, 8)))
    for args in (["predict", str(pipe), str(picture)], ["predict", str(model), str(pipe)],
                 ["evaluate", str(pipe), "--data", "digits"]):
        out = subprocess.run([sys.executable, "-m", "nnx", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "is not a regular file" in out.stderr, out.stderr


# -- 3. garbage never replaces good work ------------------------------------------------------------
def test_a_diverged_model_is_never_saved(tmp_path, digits):
    X, y = digits
    model = nnx.models.mlp((1, 8, 8), 10, hidden=(16,), rng=0)
    path = tmp_path / "good.npz"
    nnx.save(model, path)
    good = path.read_bytes()
    model[1].weight.data[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"holds 1 NaN or inf values \(the first in '1.weight'\): not saved; "
                                         r".*good.npz is left as it was"):
        nnx.save(model, path)
    with pytest.raises(ValueError, match="NaN or inf"):
        nnx.save({"model": model, "epoch": 1}, tmp_path / "new.npz")
    assert path.read_bytes() == good and not (tmp_path / "new.npz").exists()
    # fit stops at a non-finite loss; a checkpoint callback keeps the last good file
    model = nnx.models.mlp((1, 8, 8), 10, hidden=(16,), rng=0)
    ck = nnx.callbacks.ModelCheckpoint(path, save_best_only=False)
    with pytest.warns(RuntimeWarning, match="not saving .*good.npz"):
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=1e300), (X, y),
                callbacks=[ck], progress=False)
    assert path.read_bytes() == good


def test_the_cli_exits_non_zero_and_keeps_the_file_when_training_diverges(tmp_path):
    path = tmp_path / "d.npz"
    first = subprocess.run([sys.executable, "-m", "nnx", "train", "--epochs", "1", "--no-progress", "--save",
                            str(path)], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    good = path.read_bytes()
    out = subprocess.run([sys.executable, "-m", "nnx", "train", "--epochs", "2", "--no-progress", "--lr", "1e300",
                          "--save", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "training diverged" in out.stderr and "left as it was" in out.stderr
    assert path.read_bytes() == good


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn (NNX_TEST_EXTRAS=1)")
def test_estimators_refuse_what_would_train_on_nothing_or_allocate_without_bound():
    from nnx.sklearn import MAX_CLASSES, NNXClassifier, NNXRegressor
    with pytest.raises(ValueError, match="early_stopping leaves no sample to train on"):
        NNXRegressor(early_stopping=True).fit(np.ones((1, 3)), np.ones(1))
    labels = np.arange(1_000_000)
    with pytest.raises(ValueError, match=f"1,000,000 distinct labels; at most {MAX_CLASSES:,} classes"):
        NNXClassifier(hidden_layer_sizes=(8,)).fit(np.zeros((len(labels), 2)), labels)
    with pytest.raises(ValueError, match="train_data: got 0 samples"):
        model = nnx.models.mlp(3, 2, rng=0)
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=0.1),
                (np.zeros((0, 3), np.float32), np.zeros(0, np.int64)), progress=False)
