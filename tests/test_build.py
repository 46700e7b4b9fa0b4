"""The build without OpenMP: it must succeed, say so, and produce serial kernels that work."""
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")
def test_build_without_openmp_falls_back_to_serial_and_says_so(tmp_path):
    env = dict(os.environ, NNX_NO_OPENMP="1")
    env.pop("NNX_NATIVE", None)
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "OpenMP OFF" in build.stdout + build.stderr
    assert "-fopenmp" not in build.stdout.split("OpenMP OFF")[-1].split("\n")[0]
    kdir = tmp_path / "lib" / "nnx" / "kernels" / "compiled"
    code = textwrap.dedent(
        f"""
        import importlib.machinery, importlib.util, pathlib, sys
        import numpy as np
        import nnx.kernels.compiled  # the package; the serial extensions are loaded from the build dir
        def load(name):
            path = next(pathlib.Path({str(kdir)!r}).glob(name + ".*.so"))
            loader = importlib.machinery.ExtensionFileLoader("nnx.kernels.compiled." + name, str(path))
            spec = importlib.util.spec_from_loader(loader.name, loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            return mod
        omp, act = load("_openmp"), load("_activations")
        assert omp.openmp_enabled() is False
        assert "-fopenmp" not in omp.build_flags()
        x = np.linspace(-1, 1, 300001, dtype=np.float32)
        y = np.empty_like(x); m = np.empty(x.shape, np.uint8)
        act.relu_forward(x, y, m, 2)  # a thread count is accepted and runs serially
        assert (y == np.maximum(x, 0)).all() and (m == (x > 0)).all()
        print("serial ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "serial ok" in run.stdout


def test_changed_build_switches_force_a_rebuild(tmp_path):
    """The Makefile keeps the build switches in a stamp rewritten only when they change, and a
    changed stamp makes `make install` rebuild every extension (`build_ext --force`)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    root = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"

    def make(*args, **env):
        return subprocess.run(["make", "-s", "-C", str(root), f"VENV={venv}", *args], capture_output=True,
                              text=True, env={**os.environ, "NNX_NO_OPENMP": "", **env}, timeout=60)

    stamp = venv / ".build-flags"
    make(str(stamp))
    first = stamp.stat().st_mtime_ns
    time.sleep(0.01)
    make(str(stamp))
    assert stamp.stat().st_mtime_ns == first  # same switches: untouched, nothing rebuilds
    make(str(stamp), NNX_NO_OPENMP="1")
    assert "NNX_NO_OPENMP=1" in stamp.read_text()
    dry = make("-n", str(venv / ".installed"), NNX_NO_OPENMP="").stdout
    assert "build_ext --inplace -j 2 --force" in dry
