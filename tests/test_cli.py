"""``python -m nnx`` through subprocess: every command, --help, exit codes, errors, Ctrl-C."""
import gzip
import os
import signal
import subprocess
import sys
import time
import warnings
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
    assert isinstance(model[0], nnx.Normalize)  # the model takes raw pixels
    _, _, Xt, _ = nnx.datasets.load_digits()
    expect = nnx.predict(model, Xt[:20]).argmax(1)
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



# -- work checked before it starts; messages ----------------------------------------------------
def _py(code, **kw):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, **kw)


NO_MPI = "import sys; sys.modules['mpi4py'] = None; from nnx.cli import main; sys.exit(main({argv!r}))"


def test_outputs_and_optional_dependencies_are_checked_before_training(tmp_path):
    missing = tmp_path / "no" / "m.npz"
    for flag in ("--save", "--checkpoint"):
        out = run("train", "--epochs", "1", flag, str(missing))
        assert out.returncode == 1 and "epoch" not in out.stdout, out.stdout  # refused before any work
        assert f"nnx: error: {flag}: cannot write {missing}: no such directory" in out.stderr
        assert ".tmp-" not in out.stderr
    out = run("train", "--epochs", "1", "--save", str(tmp_path))
    assert out.returncode == 1 and f"{tmp_path} is a directory" in out.stderr
    (tmp_path / "file").write_text("x")
    out = run("train", "--epochs", "1", "--plots", str(tmp_path / "file"))
    assert out.returncode == 1 and "it must name a folder" in out.stderr
    code = ("import sys; sys.modules['matplotlib'] = None; from nnx.cli import main; "
            f"sys.exit(main(['train', '--epochs', '1', '--plots', {str(tmp_path / 'p')!r}]))")
    out = _py(code)
    assert out.returncode == 1 and "--plots needs matplotlib: pip install 'nnx[plot]'" in out.stderr
    assert "epoch" not in out.stdout
    out = _py(NO_MPI.format(argv=["train", "--epochs", "1", "--distributed"]))
    assert out.returncode == 1 and "pip install 'nnx[mpi]'" in out.stderr and "No module named" not in out.stderr
    model = tmp_path / "m.npz"
    nnx.save(nnx.models.mlp(64, 10, rng=0), model, metadata=nnx.io.input_metadata((64,)))
    out = run("export", str(model), str(tmp_path / "no" / "m.onnx"))
    assert out.returncode == 1 and f"cannot write {tmp_path / 'no' / 'm.onnx'}: no such directory" in out.stderr


def test_library_saves_name_the_users_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"cannot write {tmp_path / 'no' / 'm.npz'}: no such directory") as e:
        nnx.save(nnx.Linear(2, 2, rng=0), tmp_path / "no" / "m.npz")
    assert ".tmp-" not in str(e.value)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        nnx.save(nnx.Linear(2, 2, rng=0), tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory, not a checkpoint file"):
        nnx.load(tmp_path)


def test_distributed_without_mpi4py_says_how_to_get_it(monkeypatch):
    import nnx.distributed as dist
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(dist._state, "comm", None)
    X, y, _, _ = nnx.datasets.load_digits()
    model = nnx.models.mlp((1, 8, 8), 10, rng=0)
    with pytest.raises(ImportError, match=r"pip install 'nnx\[mpi\]', then run under mpiexec"):
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=0.1), (X, y),
                progress=False, distributed=True)


def test_several_mpi_ranks_without_distributed_warn_once(monkeypatch):
    from nnx.train import loop
    monkeypatch.setattr(loop, "_launched_warning", [])
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    X, y, _, _ = nnx.datasets.load_digits()
    model = nnx.models.mlp((1, 8, 8), 10, rng=0)
    opt = nnx.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=r"one of 2 MPI ranks \(OMPI_COMM_WORLD_SIZE=2\) but distributed=False"):
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:64], y[:64]), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:64], y[:64]), progress=False)  # once


def test_cli_warnings_are_one_plain_line_each(tmp_path):
    env = {**os.environ, "OMPI_COMM_WORLD_SIZE": "2"}
    out = subprocess.run([sys.executable, "-m", "nnx", "train", "--epochs", "2", "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len([m for m in lines if m.startswith("nnx: warning: fit: this process is one of 2 MPI ranks")]) == 1
    assert "UserWarning" not in out.stderr and "warnings.warn" not in out.stderr


def test_unknown_options_get_the_subcommands_usage_and_a_hint():
    out = run("train", "--data-dir", "/data")
    assert out.returncode == 2
    assert out.stderr.startswith("usage: python -m nnx train") and "--data-dir (did you mean --root?)" in out.stderr
    out = run("evaluate", "m.npz", "--data", "digits", "--batchsize", "2")
    assert out.returncode == 2 and "usage: python -m nnx evaluate" in out.stderr
    assert "did you mean --batch-size?" in out.stderr


def test_help_and_slow_tier_say_what_happens(tmp_path, mnist_root):
    out = run("train", "--help")
    assert "docs/threads.md" in out.stdout and "other processes" in out.stdout  # as docs/threads.md says
    assert "teaching tier" in out.stdout
    out = run("train", "--data", "mnist", "--root", str(mnist_root), "--backend", "loops", "--epochs", "1",
              "--save", str(tmp_path / "no" / "x.npz"))  # warned, then refused before loading anything
    assert "nnx: warning: --backend loops is the teaching tier" in out.stderr and out.returncode == 1


def test_files_that_are_not_models_are_named_for_what_they_hold(tmp_path):
    nnx.save(nnx.models.mlp(64, 10, rng=0).state_dict(), tmp_path / "sd.npz")
    out = run("evaluate", str(tmp_path / "sd.npz"), "--data", "digits")
    assert out.returncode == 1 and "holds a state dict, not a model" in out.stderr and "OrderedDict" not in out.stderr
    out = run("evaluate", str(tmp_path), "--data", "digits")
    assert out.returncode == 1 and f"{tmp_path} is a directory, not a saved model" in out.stderr
