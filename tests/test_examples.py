"""The examples run (shortened) and learn."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

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
