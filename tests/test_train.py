"""nnx.fit / evaluate / predict / Trainer, the callbacks, progress bars and Ctrl-C."""
import csv
import io
import json
import os
import signal

import numpy as np
import pytest

import nnx
from nnx import callbacks as cbs


@pytest.fixture(scope="module")
def digits():
    X, y, Xt, yt = nnx.datasets.load_digits()
    return X.reshape(len(X), -1), y, Xt.reshape(len(Xt), -1), yt


def _mlp(dropout=0.0, seed=0):
    layers = [nnx.Linear(64, 32, rng=seed), nnx.ReLU()]
    if dropout:
        layers.append(nnx.Dropout(dropout))
    return nnx.Sequential(*layers, nnx.Linear(32, 10, rng=seed + 1))


def _setup(lr=0.1, dropout=0.0):
    model = _mlp(dropout)
    return model, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def test_fit_learns_digits_and_fills_history(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    h = nnx.fit(model, loss, opt, (X, y), epochs=4, val_data=(Xt, yt), batch_size=32, progress=False, seed=0)
    assert isinstance(h, nnx.History) and len(h) == 4
    assert [e["epoch"] for e in h] == [1, 2, 3, 4]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time", "samples_per_sec"):
        assert len(h[key]) == 4 and all(np.isfinite(h[key])), key
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert h.params["seed"] == 0 and h.params["n_train"] == len(X) and h.params["batch_size"] == 32
    assert not h.interrupted and h.stop_reason is None
    assert set(h.history) >= {"loss", "val_accuracy"}
    with pytest.raises(KeyError, match="top5"):
        h["top5"]
    # the logged validation numbers are what evaluate() says about the final model
    ev = nnx.evaluate(model, (Xt, yt), loss)
    assert ev["accuracy"] == h["val_accuracy"][-1] and ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-12)


def test_fit_runs_the_explicit_loop(digits):
    """fit == the hand-written loop of the examples, bit for bit (same batches, same steps)."""
    X, y, _, _ = digits
    model, loss, opt = _setup()
    nnx.fit(model, loss, opt, (X, y), epochs=2, batch_size=64, progress=False, seed=5)
    ref, loss2, opt2 = _setup()
    shuffle_ss, _ = np.random.SeedSequence(5).spawn(2)
    loader = nnx.datasets.DataLoader(X, y, batch_size=64, rng=np.random.default_rng(shuffle_ss))
    for _ in range(2):
        for xb, yb in loader:
            out = ref(xb)
            loss2.forward(out, yb)
            opt2.zero_grad()
            ref.backward(loss2.backward())
            opt2.step()
    for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items(), strict=True):
        assert np.array_equal(a, b), k


def test_same_seed_same_weights_other_seed_differs(digits):
    X, y, _, _ = digits

    def run(seed):
        model, loss, opt = _setup(dropout=0.3)
        h = nnx.fit(model, loss, opt, (X, y), epochs=2, batch_size=50, progress=False, seed=seed)
        return model.state_dict(), h

    a, _ = run(3)
    b, _ = run(3)
    c, _ = run(4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    d, h = run(None)  # a drawn seed is recorded and reproduces the run
    e, _ = run(h.params["seed"])
    assert all(np.array_equal(d[k], e[k]) for k in d)


def test_fit_accepts_a_dataloader(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    loader = nnx.datasets.DataLoader(X, y, batch_size=128, rng=0)
    h = nnx.fit(model, loss, opt, loader, epochs=4, val_data=nnx.datasets.DataLoader(Xt, yt, 100, shuffle=False),
                progress=False)
    assert len(h) == 4 and h["val_accuracy"][-1] > 0.8


def test_evaluate_and_predict_use_eval_mode_and_restore_it(digits):
    X, y, Xt, yt = digits
    model, loss, _ = _setup(dropout=0.5)
    model.train()
    out = nnx.predict(model, Xt, batch_size=7)
    assert model.training
    model.eval()
    np.testing.assert_allclose(out, model(Xt), rtol=1e-6, atol=1e-6)  # batch 7 vs 359: same sums per row
    res = nnx.evaluate(model, (Xt, yt), loss, batch_size=50)
    assert not model.training
    assert res["n"] == len(Xt)
    assert res["accuracy"] == pytest.approx(np.mean(model(Xt).argmax(1) == yt))
    assert res["loss"] == pytest.approx(loss.forward(model(Xt), yt), rel=1e-5)
    assert "loss" not in nnx.evaluate(model, (Xt, yt))


def test_trainer_object(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    trainer = nnx.Trainer(model, loss, opt, schedule=nnx.optim.StepLR(opt, step_size=1, gamma=0.5))
    h = trainer.fit((X, y), epochs=3, progress=False, seed=0)
    assert h is trainer.history
    assert h["lr"] == [0.1, 0.05, 0.025]
    assert trainer.evaluate((Xt, yt))["accuracy"] > 0.85
    assert trainer.predict(Xt[:5]).shape == (5, 10)


def test_regression_targets_log_loss_only():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3)).astype(np.float32)
    Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = nnx.Sequential(nnx.Linear(3, 1, rng=0))
    h = nnx.fit(model, nnx.MSELoss(), nnx.optim.SGD(model.parameters(), lr=0.1), (X, Y), epochs=20,
                batch_size=10, progress=False, seed=0)
    assert "accuracy" not in h.epochs[0]
    assert h["loss"][-1] < 1e-3


# -- progress bars -------------------------------------------------------------------------------
def test_progress_bar_on_a_stream_shows_loss_accuracy_and_speed(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    stream = io.StringIO()
    nnx.fit(model, loss, opt, (X, y), epochs=2, val_data=(Xt, yt), progress=stream, seed=0)
    text = stream.getvalue()
    for piece in ("epoch 1/2", "epoch 2/2", "loss=", "acc=", "samples/s", "val_accuracy 0.9"):
        assert piece in text, piece


def test_progress_off_prints_nothing_and_no_terminal_prints_one_line_per_epoch(digits, capsys):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    nnx.fit(model, loss, opt, (X, y), epochs=1, progress=False, seed=0)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    nnx.fit(model, loss, opt, (X, y), epochs=2, progress=True, seed=0)  # pytest's stderr is no TTY
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 2 and "\r" not in captured.err
    assert lines[0].startswith("epoch 1/2: loss ") and "samples/s" in lines[1]


# -- callbacks -----------------------------------------------------------------------------------
class Recorder(cbs.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, trainer):
        self.calls.append("begin")

    def on_epoch_begin(self, trainer, epoch):
        self.calls.append(f"epoch{epoch}")

    def on_batch_end(self, trainer, batch, logs):
        assert np.isfinite(logs["loss"]) and logs["size"] > 0
        self.calls.append("b")

    def on_epoch_end(self, trainer, epoch, logs):
        self.calls.append(f"end{epoch}")

    def on_train_end(self, trainer, history):
        self.calls.append("end")


def test_callback_hooks_in_order(digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    rec = Recorder()
    nnx.fit(model, loss, opt, (X[:100], y[:100]), epochs=2, batch_size=50, callbacks=[rec], progress=False)
    assert rec.calls == ["begin", "epoch0", "b", "b", "end0", "epoch1", "b", "b", "end1", "end"]


def test_early_stopping_stops_and_restores_best(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup(lr=0.0)  # nothing improves after the first epoch
    es = cbs.EarlyStopping(monitor="val_loss", patience=2)
    h = nnx.fit(model, loss, opt, (X, y), epochs=20, val_data=(Xt, yt), callbacks=[es], progress=False)
    assert len(h) == 4 and es.stopped_epoch == 4 and es.best_epoch == 1
    assert "early stopping" in h.stop_reason

    model, loss, opt = _setup(lr=0.5)
    es = cbs.EarlyStopping(monitor="val_accuracy", patience=0, restore_best_weights=True)
    snapshots = []

    class Snap(cbs.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots.append(trainer.model.state_dict())

    h = nnx.fit(model, loss, opt, (X, y), epochs=30, val_data=(Xt, yt), callbacks=[es, Snap()], progress=False,
                seed=1)
    best = int(np.argmax(h["val_accuracy"]))
    assert len(h) < 30 and h["val_accuracy"][best] == es.best
    for k, v in model.state_dict().items():
        assert np.array_equal(v, snapshots[best][k]), k


def test_early_stopping_unknown_monitor(digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    with pytest.raises(ValueError, match="val_loss.*needs val_data"):
        nnx.fit(model, loss, opt, (X, y), epochs=2, callbacks=[cbs.EarlyStopping()], progress=False)


def test_model_checkpoint_keeps_the_best(tmp_path, digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    path = tmp_path / "best.npz"
    ck = cbs.ModelCheckpoint(path, monitor="val_accuracy")
    h = nnx.fit(model, loss, opt, (X, y), epochs=3, val_data=(Xt, yt), callbacks=[ck], progress=False, seed=0)
    assert ck.best == max(h["val_accuracy"])
    best = nnx.load(path)
    assert nnx.evaluate(best, (Xt, yt))["accuracy"] == ck.best


def test_model_checkpoint_every_epoch_with_optimizer(tmp_path, digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    ck = cbs.ModelCheckpoint(tmp_path / "ck-{epoch:02d}.npz", monitor="loss", save_best_only=False,
                             save_optimizer=True)
    nnx.fit(model, loss, opt, (X, y), epochs=2, callbacks=[ck], progress=False)
    assert sorted(os.listdir(tmp_path)) == ["ck-01.npz", "ck-02.npz"]
    last = nnx.load(tmp_path / "ck-02.npz")
    assert last["epoch"] == 2 and set(last) == {"model", "optimizer", "epoch", "logs", "resume"}
    for k, v in model.state_dict().items():
        assert np.array_equal(last["model"].state_dict()[k], v)


def test_lr_scheduler_per_batch(digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    sched = nnx.optim.LinearWarmup(opt, warmup_steps=100)
    nnx.fit(model, loss, opt, (X[:320], y[:320]), epochs=2, batch_size=32,
            callbacks=[cbs.LRScheduler(sched, interval="batch")], progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 21 / 100)


def test_csv_and_json_loggers(tmp_path, digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    nnx.fit(model, loss, opt, (X, y), epochs=3, val_data=(Xt, yt), progress=False, seed=0,
            callbacks=[cbs.CSVLogger(tmp_path / "log.csv"), cbs.JSONLogger(tmp_path / "log.json")])
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"] and "val_accuracy" in rows[0]
    doc = json.loads((tmp_path / "log.json").read_text())
    assert len(doc["epochs"]) == 3 and doc["params"]["seed"] == 0
    assert float(rows[2]["loss"]) == pytest.approx(doc["epochs"][2]["loss"])


def test_non_finite_loss_stops_with_a_warning():
    X = np.ones((40, 2), np.float32)
    Y = np.full((40, 1), 1e30, np.float32)
    model = nnx.Sequential(nnx.Linear(2, 1, rng=0))
    with pytest.warns(RuntimeWarning, match="loss became"):
        h = nnx.fit(model, nnx.MSELoss(), nnx.optim.SGD(model.parameters(), lr=1e10), (X, Y), epochs=5,
                    batch_size=10, progress=False)
    assert "non-finite" in h.stop_reason and len(h) <= 1


# -- Ctrl-C ----------------------------------------------------------------------------------------
class CtrlC(cbs.Callback):
    def __init__(self, epoch, batch, times=1):
        self.at, self.times = (epoch, batch), times

    def on_epoch_begin(self, trainer, epoch):
        self.epoch = epoch

    def on_batch_end(self, trainer, batch, logs):
        if (self.epoch, batch) == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_after_the_batch_and_leaves_a_checkpoint(tmp_path, digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    before = signal.getsignal(signal.SIGINT)
    ck = cbs.ModelCheckpoint(tmp_path / "last.npz", monitor="loss", save_best_only=False)
    seen = Recorder()
    h = nnx.fit(model, loss, opt, (X, y), epochs=5, batch_size=32, callbacks=[CtrlC(1, 3), ck, seen],
                progress=False)
    assert h.interrupted and "interrupted" in h.stop_reason
    assert len(h) == 1  # epoch 2 was cut short and is not a completed record
    assert seen.calls.count("b") == len(range(0, len(X), 32)) + 4 and seen.calls[-1] == "end"
    assert signal.getsignal(signal.SIGINT) is before
    saved = nnx.load(tmp_path / "last.npz")
    for k, v in model.state_dict().items():
        assert np.array_equal(saved.state_dict()[k], v), k


def test_second_ctrl_c_aborts(digits):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        nnx.fit(model, loss, opt, (X, y), epochs=2, callbacks=[CtrlC(0, 2, times=2)], progress=False)
    assert signal.getsignal(signal.SIGINT) is before


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"batch_size": -1}, ValueError, "batch_size"),
    ({"seed": -3}, ValueError, "seed"),
    ({"callbacks": [object()]}, TypeError, "callbacks"),
    ({"train_data": 5}, TypeError, "train_data"),
    ({"train_data": (np.zeros((3, 64), np.float32), np.zeros(2, int))}, ValueError, "train_data"),
    ({"progress": 3}, TypeError, "progress"),
])
def test_fit_bad_arguments(digits, kwargs, exc, match):
    X, y, _, _ = digits
    model, loss, opt = _setup()
    args = {"train_data": (X, y), "epochs": 1, "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        nnx.fit(model, loss, opt, **args)


def test_callback_arguments_are_checked():
    with pytest.raises(ValueError, match="patience"):
        cbs.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        cbs.ModelCheckpoint("x.npz", mode="up")
    with pytest.raises(ValueError, match="interval"):
        cbs.LRScheduler(nnx.optim.StepLR(nnx.optim.SGD(_mlp().parameters(), lr=0.1), 1), interval="step")
    with pytest.raises(TypeError, match="model"):
        nnx.evaluate("model", (np.zeros((1, 64)), np.zeros(1, int)))


def test_progress_bar_appears_on_a_terminal():
    """progress=True draws the bar when stderr is a terminal (a pseudo-terminal here)."""
    import pty
    import subprocess
    import sys
    code = ("import nnx\n"
            "X, y, _, _ = nnx.datasets.load_digits()\n"
            "m = nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 10))\n"
            "nnx.fit(m, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(m.parameters(), lr=0.1), (X, y), epochs=1)\n")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=follower, stdout=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    assert "epoch 1/1" in text and "samples/s" in text and "accuracy 0." in text


def test_fit_takes_the_api_keywords_and_refuses_what_it_cannot_do():  # distributed=True: test_distributed
    X = np.ones((8, 4), np.float32)
    y = np.zeros(8, np.int64)
    m = nnx.Sequential(nnx.Linear(4, 2, rng=0))
    opt = nnx.optim.SGD(m.parameters(), lr=0.1)
    h = nnx.fit(m, nnx.SoftmaxCrossEntropy(), opt, (X, y), 1, progress=False, precision="fp32", distributed=False)
    assert len(h) == 1
    for bad in ("fp16", "half", None):  # float32 and bfloat16 are the same two (test_bf16.py)
        with pytest.raises(ValueError, match="precision: expected one of fp32, float32, bf16, bfloat16"):
            nnx.fit(m, nnx.SoftmaxCrossEntropy(), opt, (X, y), 1, progress=False, precision=bad)
    with pytest.raises(TypeError, match="distributed: expected a bool"):
        nnx.fit(m, nnx.SoftmaxCrossEntropy(), opt, (X, y), 1, progress=False, distributed="yes")
    loader = nnx.datasets.DataLoader(X, y, batch_size=4)  # refused before MPI is touched
    with pytest.raises(ValueError, match="distributed=True takes train_data as"):
        nnx.fit(m, nnx.SoftmaxCrossEntropy(), opt, loader, 1, progress=False, distributed=True)


def test_silent_wrong_training_is_refused_before_it_starts(digits):
    X, y, Xt, yt = digits
    model, loss, opt = _setup()
    before = model.state_dict()
    other = _mlp(seed=1)
    with pytest.raises(ValueError, match="optimizer: none of its 4 parameters belongs to the model"):
        nnx.fit(model, loss, nnx.optim.SGD(other.parameters(), lr=0.1), (X, y), progress=False)
    bad = X.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"train_data: X holds NaN or inf in 1 sample\(s\) \(the first: sample 7\)"):
        nnx.fit(model, loss, opt, (bad, y), progress=False)
    with pytest.raises(ValueError, match="val_data: X holds NaN"):
        nnx.fit(model, loss, opt, (X, y), val_data=(bad, y), progress=False)
    with pytest.raises(ValueError, match="val_data: X is float64 but train_data's X is float32"):
        nnx.fit(model, loss, opt, (X, y), val_data=(Xt.astype(np.float64), yt), progress=False)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # nothing trained
    with pytest.raises(ValueError, match=r"evaluate: data: label 10 is outside the model's 10 classes \(0..9\)"):
        nnx.evaluate(model, (Xt, np.where(np.arange(len(yt)) == 5, 10, yt)))
    with pytest.raises(ValueError, match="label -1 is outside"):
        nnx.evaluate(model, (Xt, np.where(np.arange(len(yt)) == 5, -1, yt)), loss=loss)
    # a DataLoader's batches are not checked up front: the non-finite loss names the inputs
    loader = nnx.datasets.DataLoader(bad, y, batch_size=len(bad), shuffle=False)
    with pytest.warns(RuntimeWarning, match="stopping \\(its inputs hold NaN or inf\\)") as caught:
        nnx.fit(model, loss, opt, loader, progress=False)
    assert caught[0].filename == __file__  # the warning points at the caller's line
