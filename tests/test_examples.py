"""The examples run (shortened) and learn."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnx

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_digits_example_learns_in_a_short_run(capsys):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import digits_mlp
    finally:
        sys.path.remove(str(EXAMPLES))
    model = digits_mlp.main(["--epochs", "4", "--seed", "0"])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ")
    assert float(last.split(": ")[1]) > 0.85  # chance is 0.10
    assert "epoch   4" in out
    assert isinstance(model, nnx.Sequential)


def test_digits_example_help_and_backend_flag():
    out = subprocess.run([sys.executable, str(EXAMPLES / "digits_mlp.py"), "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "--backend" in out.stdout and "--threads" in out.stdout
    out = subprocess.run([sys.executable, str(EXAMPLES / "digits_mlp.py"), "--epochs", "1",
                          "--backend", "vectorized", "--threads", "1"],
                         capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert "backend=vectorized" in out.stdout
    assert float(out.stdout.strip().splitlines()[-1].split(": ")[1]) > np.float64(0.5)


def _example(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_polynomial_regression_recovers_the_coefficients():
    results = _example("polynomial_regression").main(["--epochs", "100"])
    for w2, w1, w0 in results.values():
        assert abs(w2 - 0.5) < 0.05 and abs(w1 + 1.5) < 0.05 and abs(w0 - 2.0) < 0.05


def test_logistic_regression_three_ways_agree():
    results, times = _example("logistic_regression_loops_vs_vectorized").main(["--n", "100", "--epochs", "20"])
    ref_w, ref_b = results["loops"]
    for w, b in results.values():
        np.testing.assert_allclose(w, ref_w, rtol=1e-10, atol=1e-12)
        assert abs(b - ref_b) < 1e-10
    assert times["vectorized"] < times["loops"]


def test_optimizers_compare_learns_and_plots(tmp_path):
    plot = tmp_path / "curves.png"
    results = _example("optimizers_compare").main(["--epochs", "3", "--plot", str(plot)])
    assert set(results) == {"SGD", "momentum", "Nesterov", "Adagrad", "RMSprop", "Adam"}
    for curve, acc in results.values():
        assert curve[-1] < curve[0] and acc > 0.3
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not plot.exists()
    else:
        assert plot.stat().st_size > 1000


def test_svm_vs_softmax_and_l1_sparsity():
    results = _example("svm_vs_softmax").main(["--epochs", "5", "--lam", "2e-3"])
    assert all(acc > 0.85 for acc, _ in results.values())
    assert results[("hinge", "L1")][1] > results[("hinge", "L2")][1]  # L1 zeroes more weights


def test_residual_mlp_learns(capsys):
    acc = _example("residual_mlp").main(["--epochs", "4", "--width", "64"])
    assert acc > 0.85
    assert "skip" in capsys.readouterr().out  # the summary lists the Add node


@pytest.mark.parametrize("script", ["polynomial_regression.py", "logistic_regression_loops_vs_vectorized.py",
                                    "optimizers_compare.py", "svm_vs_softmax.py", "residual_mlp.py",
                                    "mnist_lenet5.py", "mnist_fast.py"])
def test_every_example_has_help(script):
    out = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage" in out.stdout


def test_digits_example_writes_plots_and_saves(tmp_path, capsys):
    model = _example("digits_mlp").main(["--epochs", "2", "--plots", str(tmp_path / "plots"),
                                         "--save", str(tmp_path / "m.npz")])
    names = sorted(os.listdir(tmp_path / "plots"))
    assert names == ["confusion.png", "curves.png", "misclassified.png"]
    for n in names:
        assert (tmp_path / "plots" / n).stat().st_size > 5000
    back = nnx.load(tmp_path / "m.npz")
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)  # raw images: Normalize is inside
    model.eval()
    np.testing.assert_array_equal(back(x), model(x))
    assert isinstance(back[1], nnx.Normalize) and back[1].mean.shape == (64,)
    assert nnx.load_header(tmp_path / "m.npz")["metadata"]["input_shape"] == [1, 8, 8]


def test_mnist_example_without_data_says_where_it_looked_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NNX_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)  # an empty cache
    out = subprocess.run([sys.executable, str(EXAMPLES / "mnist_lenet5.py"), "--epochs", "1"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "NNX_DATA_DIR" in out.stderr and str(tmp_path) in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mnist_fast_recipe_runs_and_reports_its_time_to_99(precision, capsys, mnist_root):
    # a short run on 6,000 images: it learns, and the result line is there either way
    reached, acc = _example("mnist_fast").main(["--train-subset", "6000", "--epochs", "2", "--precision", precision,
                                               "--threads", "1"])
    out = capsys.readouterr().out
    shown = f", bf16 ({nnx.precision.bf16_path()})," if precision == "bf16" else ", fp32,"  # and the bf16 path
    assert shown in out and "time to 99.0%: " in out and out.count("\nepoch ") == 2
    assert acc > 0.9 and (reached is None or reached[1] in (1, 2))  # chance is 0.1


def test_mnist_fast_without_data_says_where_it_looked(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NNX_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, str(EXAMPLES / "mnist_fast.py")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 1 and "NNX_DATA_DIR" in out.stderr and "Traceback" not in out.stderr
