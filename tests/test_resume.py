"""fit(resume=path) and ``python -m nnx train --resume``: a run interrupted (Ctrl-C mid-epoch, or
stopped at an epoch's end) and continued ends bit-identical to the run never interrupted --
weights, optimizer state, the epochs' logs and the callbacks' files -- at 1 and 2 threads."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnx
from nnx import callbacks as cbs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return nnx.datasets.load_digits()


def _model():
    """Everything a resume must restore: a Dropout stream, BatchNorm running statistics."""
    rng = np.random.default_rng(0)
    return nnx.Sequential(nnx.Normalize(0.3, 0.37), nnx.Flatten(), nnx.Linear(64, 48, rng=rng),
                          nnx.BatchNorm1d(48), nnx.ReLU(), nnx.Dropout(0.2), nnx.Linear(48, 10, rng=rng))


class _CtrlC(cbs.Callback):
    """Presses Ctrl-C (a real SIGINT) after batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if trainer.position["epoch"] == self.epoch and batch == self.batch:
            os.kill(os.getpid(), signal.SIGINT)


class _StopAfter(cbs.Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch + 1 == self.epochs:
            trainer.stop_training = True


def _run(folder, data, extra=(), resume=None, seed=5, epochs=5):
    X, y, Xt, yt = data
    model = _model()
    opt = nnx.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    warm = nnx.optim.LinearWarmup(opt, warmup_steps=30, after=nnx.optim.CosineAnnealingLR(opt, T_max=200))
    callbacks = [cbs.CSVLogger(folder / "log.csv"), cbs.JSONLogger(folder / "log.json"),
                 cbs.EarlyStopping("val_loss", patience=50, restore_best_weights=True),
                 cbs.ModelCheckpoint(folder / "ck.npz", save_best_only=False, save_optimizer=True),
                 *extra, cbs.LRScheduler(warm, interval="batch")]  # listed last, run first
    history = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=epochs, val_data=(Xt[:200], yt[:200]),
                      batch_size=32, callbacks=callbacks, progress=False, seed=seed, resume=resume)
    return model, opt, history


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def _no_time(epochs):
    return [{k: v for k, v in e.items() if k not in ("time", "samples_per_sec")} for e in epochs]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cut", ["mid-epoch", "epoch-end"])
def test_an_interrupted_run_resumed_is_bit_identical(tmp_path, digits, threads, cut):
    nnx.set_num_threads(threads)
    whole, cont = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir(), cont.mkdir()
    model, opt, history = _run(whole, digits)

    stop = _CtrlC(2, 17) if cut == "mid-epoch" else _StopAfter(2)
    _, _, first = _run(cont, digits, extra=[stop])
    assert len(first) == 2
    assert first.interrupted == (cut == "mid-epoch")
    saved = nnx.load(cont / "ck.npz")
    assert saved["resume"]["position"]["batch"] == (18 if cut == "mid-epoch" else 0)

    model2, opt2, history2 = _run(cont, digits, resume=cont / "ck.npz", seed=None)
    _same(model, model2)
    o1, o2 = opt.state_dict(), opt2.state_dict()
    for i in o1["state"]:
        for name, v in o1["state"][i].items():
            np.testing.assert_array_equal(v, o2["state"][i][name])
    assert o1["param_groups"] == o2["param_groups"]
    assert _no_time(history.epochs) == _no_time(history2.epochs)  # loss sums of the cut epoch included
    assert history2.params["resumed_from"]["epoch"] == 2 and history2.params["seed"] == 5
    assert [r.split(",")[:3] for r in (whole / "log.csv").read_text().splitlines()] == \
        [r.split(",")[:3] for r in (cont / "log.csv").read_text().splitlines()]
    _same(nnx.load(whole / "ck.npz")["model"], nnx.load(cont / "ck.npz")["model"])


def test_resume_refuses_what_cannot_continue(tmp_path, digits):
    X, y, Xt, yt = digits
    model = _model()
    opt = nnx.optim.SGD(model.parameters(), lr=0.05)
    loss = nnx.SoftmaxCrossEntropy()
    ck = tmp_path / "ck.npz"
    nnx.fit(model, loss, opt, (X, y), epochs=1, batch_size=32, seed=1, progress=False,
            callbacks=[cbs.ModelCheckpoint(ck, monitor="loss", save_optimizer=True)])

    def again(**kw):
        m = kw.pop("model", None) or _model()
        o = nnx.optim.SGD(m.parameters(), lr=0.05)
        args = {"epochs": 2, "batch_size": 32, "progress": False, "resume": ck, **kw}
        return nnx.fit(m, loss, o, args.pop("data", (X, y)), **args)

    with pytest.raises(ValueError, match="seed: 2, but .* seed 1"):
        again(seed=2)
    with pytest.raises(ValueError, match="batch_size"):
        again(batch_size=64)
    with pytest.raises(ValueError, match="training samples"):
        again(data=(X[:500], y[:500]))
    with pytest.raises(ValueError, match="its model does not fit"):
        again(model=nnx.models.mlp((1, 8, 8), 10, hidden=(16,), rng=0))
    with pytest.raises(FileNotFoundError, match="resume: .*nope.npz: no such file"):
        again(resume=tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="is a directory"):
        again(resume=tmp_path)
    nnx.save(model, tmp_path / "bare.npz")
    with pytest.raises(ValueError, match="holds a model only"):
        again(resume=tmp_path / "bare.npz")
    state = nnx.load(ck)
    state["resume"]["position"]["batch"] = -1
    nnx.save(state, tmp_path / "edited.npz")
    with pytest.raises(ValueError, match="malformed resume state"):
        again(resume=tmp_path / "edited.npz")
    with pytest.warns(UserWarning, match="no callback here to take the saved state of ModelCheckpoint"):
        assert len(again(seed=None)) == 2  # and the run itself goes on


def test_a_resume_restores_the_data_order_of_a_dataloader_too(tmp_path, digits):
    X, y, _, _ = digits

    def run(resume=None, stop=()):
        model = _model()
        opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = nnx.datasets.DataLoader(X, y, batch_size=50, rng=3)
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, loader, epochs=3, progress=False, seed=0, resume=resume,
                callbacks=[cbs.ModelCheckpoint(tmp_path / "dl.npz", monitor="loss", save_best_only=False,
                                               save_optimizer=True), *stop])
        return model

    whole = run()
    run(stop=[_CtrlC(1, 4)])
    _same(whole, run(resume=tmp_path / "dl.npz"))


def test_checkpoint_paths_are_checked_before_the_first_epoch(tmp_path, digits):
    X, y, _, _ = digits
    model = _model()
    opt = nnx.optim.SGD(model.parameters(), lr=0.05)
    for cb in (cbs.ModelCheckpoint(tmp_path / "no" / "ck-{epoch}.npz"), cbs.CSVLogger(tmp_path / "no" / "log.csv"),
               cbs.JSONLogger(tmp_path / "no" / "log.json")):
        before = model.state_dict()
        with pytest.raises(FileNotFoundError, match=f"{type(cb).__name__}: cannot write .*no such directory"):
            nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=1, progress=False, callbacks=[cb])
        assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # nothing trained


# -- the command line ---------------------------------------------------------------------------
def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "nnx", *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, **kw)


TRAIN = ("train", "--model", "lenet5", "--data", "digits", "--epochs", "6", "--no-progress", "--threads", "1")


def test_cli_resume_after_ctrl_c_is_bit_identical(tmp_path):
    whole = _cli(*TRAIN, "--save", str(tmp_path / "whole.npz"))
    assert whole.returncode == 0, whole.stderr
    ck = tmp_path / "ck.npz"
    proc = subprocess.Popen([sys.executable, "-m", "nnx", *TRAIN, "--checkpoint", str(ck)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not ck.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)  # in epoch 2 (6 epochs of LeNet-5 take seconds)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, (out, err)
    done = nnx.io.load_header(ck)["metadata"]["epochs_completed"]
    assert 1 <= done < 6

    resumed = _cli(*TRAIN, "--resume", str(ck), "--save", str(tmp_path / "resumed.npz"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {ck}: {done} of 6 epochs done" in resumed.stdout
    _same(nnx.load(tmp_path / "whole.npz"), nnx.load(tmp_path / "resumed.npz"))
    assert resumed.stdout.splitlines()[-1] == whole.stdout.splitlines()[-1]  # the test accuracy line
    again = _cli(*TRAIN, "--resume", str(ck))  # the checkpoint went on to the end
    assert again.returncode == 1 and "the run is complete (6 of 6 epochs)" in again.stderr


def test_cli_resume_refuses_another_run(tmp_path):
    ck = tmp_path / "ck.npz"
    first = _cli("train", "--epochs", "2", "--no-progress", "--checkpoint", str(ck))
    assert first.returncode == 0, first.stderr
    # the finished run's checkpoint: a longer run is another run (the cosine schedule spans it)
    out = _cli("train", "--epochs", "3", "--no-progress", "--resume", str(ck))
    assert out.returncode == 1 and "--epochs 2; this command has 3" in out.stderr
    out = _cli("train", "--epochs", "2", "--lr", "0.1", "--no-progress", "--resume", str(ck))
    assert out.returncode == 1 and "--lr None; this command has 0.1" in out.stderr
    nnx.save(nnx.models.mlp(64, 10, rng=0), tmp_path / "bare.npz")
    out = _cli("train", "--epochs", "2", "--no-progress", "--resume", str(tmp_path / "bare.npz"))
    assert out.returncode == 1 and "not written by `python -m nnx train --checkpoint`" in out.stderr
    out = _cli("train", "--resume", str(tmp_path / "nope.npz"))
    assert out.returncode == 1 and "nope.npz: no such file" in out.stderr
