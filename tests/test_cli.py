"""``python -m nnx`` through subprocess: every command, --help, exit codes, errors, Ctrl-C."""
import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnx
from nnx.io.png import write_png

COMMANDS = ["train", "evaluate", "predict", "export", "bench", "info"]


def run(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "nnx", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits MLP trained for 3 epochs by the CLI, saved with its metadata."""
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "mlp.npz"
    out = run("train", "--model", "mlp", "--data", "digits", "--epochs", "3", "--seed", "1", "--threads", "1",
              "--save", str(path), "--plots", str(folder / "plots"))
    assert out.returncode == 0, out.stderr
    return path, folder, out


def test_help_everywhere():
    out = run("--help")
    assert out.returncode == 0
    for cmd in COMMANDS:
        assert cmd in out.stdout
        sub = run(cmd, "--help")
        assert sub.returncode == 0 and "usage: python -m nnx " + cmd in sub.stdout, cmd


def test_info():
    out = run("info")
    assert out.returncode == 0 and "OpenMP" in out.stdout and "kernel tiers" in out.stdout


def test_train_saves_plots_and_reports(trained):
    path, folder, out = trained
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("digits: 1438 train / 359 test, mlp")
    assert sum(line.startswith("epoch ") for line in lines) == 3  # no TTY: one line per epoch
    assert float(lines[-1].split(": ")[1]) > 0.85
    model = nnx.load(path)
    meta = nnx.load_header(path)["metadata"]
    assert isinstance(model, nnx.Sequential) and meta["input_shape"] == [1, 8, 8] and meta["data"] == "digits"
    assert sorted(os.listdir(folder / "plots")) == ["confusion.png", "curves.png", "misclassified.png"]


def test_train_is_deterministic_and_lenet5_works(tmp_path, trained):
    path, _, _ = trained
    again = tmp_path / "again.npz"
    out = run("train", "--epochs", "3", "--seed", "1", "--threads", "1", "--save", str(again))
    assert out.returncode == 0, out.stderr
    a, b = nnx.load(path).state_dict(), nnx.load(again).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    out = run("train", "--model", "lenet5", "--epochs", "1", "--optimizer", "adam", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "lenet5 (" in out.stdout and "adam lr=0.001" in out.stdout


def test_evaluate(trained):
    path, _, train_out = trained
    out = run("evaluate", str(path), "--data", "digits")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == train_out.stdout.strip().splitlines()[-1].replace(
        "test accuracy", "accuracy")
    assert "precision" in out.stdout and "top-2 accuracy" in out.stdout


def test_predict_png(tmp_path, trained):
    path, _, _ = trained
    model = nnx.load(path)
    meta = nnx.load_header(path)["metadata"]
    _, _, Xt, _ = nnx.datasets.load_digits()
    mean, std = meta["normalize"]
    expect = nnx.predict(model, ((Xt[:20] - mean) / std).astype(np.float32)).argmax(1)
    for i in (0, 5):
        # dark ink on white paper, 4x larger than the model's input: inverted and resized back
        write_png(tmp_path / f"d{i}.png", 1 - np.kron(Xt[i, 0], np.ones((4, 4))))
        out = run("predict", str(path), str(tmp_path / f"d{i}.png"))
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"{tmp_path / f'd{i}.png'}: {expect[i]} (p=")


def test_predict_idx(tmp_path, trained):
    path, _, _ = trained
    _, _, Xt, _ = nnx.datasets.load_digits()
    images = np.rint(Xt[:12, 0] * 255).astype(np.uint8)
    head = (2051).to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.tobytes()))
    out = run("predict", str(path), str(tmp_path / "x-idx3-ubyte.gz"), "--limit", "10")
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.strip().splitlines()]
    assert [r[0] for r in rows] == [str(i) for i in range(10)]
    assert all(0 <= int(r[1]) <= 9 and 0 < float(r[2]) <= 1 for r in rows)


@pytest.mark.parametrize("args, where", [
    (["evaluate", "missing.npz", "--data", "digits"], "no such file"),
    (["predict", "missing.npz", "x.png"], "no such file"),
])
def test_runtime_errors_are_one_line_exit_1(args, where):
    out = run(*args)
    assert out.returncode == 1
    assert out.stderr.startswith("nnx: error: ") and where in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_debug_shows_the_traceback():
    out = run("evaluate", "missing.npz", "--data", "digits", "--debug")
    assert out.returncode == 1 and "Traceback" in out.stderr


def test_not_a_model_and_not_an_image(tmp_path, trained):
    path, _, _ = trained
    nnx.save(nnx.load(path).state_dict(), tmp_path / "sd.npz")
    out = run("evaluate", str(tmp_path / "sd.npz"), "--data", "digits")
    assert out.returncode == 1 and "not a model nnx can rebuild" in out.stderr
    (tmp_path / "junk.txt").write_text("hello")
    out = run("predict", str(path), str(tmp_path / "junk.txt"))
    assert out.returncode == 1 and "not an image nnx or Pillow can read" in out.stderr
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    out = run("evaluate", str(tmp_path / "bad.npz"), "--data", "digits")
    assert out.returncode == 1 and "not an nnx checkpoint" in out.stderr


def test_missing_mnist_is_a_clear_error(tmp_path):
    env = dict(os.environ, NNX_DATA_DIR=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = run("train", "--data", "mnist", "--root", str(tmp_path / "none"), env=env)
    assert out.returncode == 1 and "--download" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [
    ["train", "--epochs", "0"], ["train", "--model", "resnet"], ["train", "--lr", "-1"], ["frobnicate"], [],
    ["evaluate", "m.npz"], ["train", "--threads", "zero"],
])
def test_usage_errors_exit_2(args):
    out = run(*args)
    assert out.returncode == 2 and "usage:" in out.stderr


def test_ctrl_c_stops_training_and_saves(tmp_path):
    path = tmp_path / "ctrlc.npz"
    proc = subprocess.Popen([sys.executable, "-m", "nnx", "train", "--epochs", "100000", "--no-progress",
                             "--save", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("digits:")
        assert proc.stdout.readline().startswith("epoch   1")  # training is under way
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert f"saved {path}" in out and "test accuracy: " in out
    assert isinstance(nnx.load(path), nnx.Sequential)


def test_bench_quick_prints_the_table():
    out = run("bench", "-k", "relu", timeout=600)
    assert out.returncode == 0, out.stderr
    # the torch column is there exactly when torch is installed (NNX_TEST_TORCH=1)
    try:
        import torch  # noqa: F401
        header = "| implementation | best | median | vs vectorized | vs torch |"
    except ImportError:
        header = "| implementation | best | median | vs vectorized | vs loops |"
    assert header in out.stdout and "## relu" in out.stdout
    assert "Generated by `python -m nnx bench`" in out.stdout  # not a claim about `make bench`


def test_missing_data_is_the_same_line_from_every_entry_point(tmp_path):
    root = tmp_path / "none"
    with pytest.raises(FileNotFoundError) as api:
        nnx.datasets.load_mnist(root)
    cli = run("train", "--data", "mnist", "--root", str(root))
    example = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "examples" / "mnist_lenet5.py"),
                              "--root", str(root)], capture_output=True, text=True, timeout=120)
    lines = {str(api.value), cli.stderr.strip().removeprefix("nnx: error: "),
             example.stderr.strip().removeprefix("mnist_lenet5.py: error: ")}
    assert len(lines) == 1 and "NNX_DATA_DIR" in str(api.value) and "--download" in str(api.value), lines


def test_train_into_a_closed_pipe_still_finishes_and_saves(tmp_path):
    # `python -m nnx train ... | head -1`: the reader goes away after the first line
    proc = subprocess.Popen([sys.executable, "-m", "nnx", "train", "--data", "digits", "--epochs", "3",
                             "--threads", "1", "--save", str(tmp_path / "m.npz")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err
    assert nnx.load(tmp_path / "m.npz").num_parameters() > 0

