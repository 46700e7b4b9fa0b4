"""Backend choice, threads, show_config, and the fallback when the extension is missing."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import TIERS

import nnx


def test_use_backend_restores_previous():
    before = nnx.get_backend_name()
    with nnx.use_backend("loops"):
        assert nnx.get_backend_name() == "loops"
        with nnx.use_backend("vectorized"):
            assert nnx.get_backend_name() == "vectorized"
        assert nnx.get_backend_name() == "loops"
    assert nnx.get_backend_name() == before


def test_the_deprecated_get_backend_alias_names_the_tier_and_warns():
    # API.md keeps nnx.get_backend() for one release as a deprecated alias of get_backend_name()
    with nnx.use_backend("vectorized"), pytest.warns(DeprecationWarning, match="use nnx.get_backend_name"):
        assert nnx.get_backend() == "vectorized"


def test_default_backend_is_cython_when_built():
    if "cython" in TIERS:
        code = "import nnx; print(nnx.get_backend_name())"
        env = {k: v for k, v in os.environ.items() if k != "NNX_BACKEND"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.stdout.strip() == "cython"


def test_module_layer_really_uses_the_selected_tier(monkeypatch, rng):
    calls = []
    loops = nnx.kernels.get_backend("loops")
    real = loops.relu_forward
    monkeypatch.setattr(loops, "relu_forward", lambda x, **kw: calls.append(1) or real(x, **kw))
    with nnx.use_backend("loops"):
        nnx.ReLU()(rng.standard_normal(3))
    assert calls == [1]


def test_set_num_threads_validates_and_sets_blas():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info

    nnx.set_num_threads(1)
    assert nnx.get_num_threads() == 1
    blas = [d for d in threadpool_info() if d["user_api"] == "blas"]
    assert all(d["num_threads"] == 1 for d in blas)
    with pytest.raises(ValueError, match="positive integer"):
        nnx.set_num_threads(0)


def test_show_config_reports_the_build(capsys):
    nnx.show_config()
    out = capsys.readouterr().out
    assert "nnx 0.1.0" in out and "kernel tiers" in out and "OpenMP" in out
    assert "threads" in out and "NumPy BLAS" in out
    if "cython" in TIERS:
        assert "cython" in out and ("on" in out or "OFF" in out)


def test_missing_extension_falls_back_with_one_warning(tmp_path):
    # Simulate an unbuilt checkout: block the compiled modules from importing.
    code = textwrap.dedent(
        """
        import sys, warnings
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.startswith("nnx.kernels.compiled._"):
                    raise ImportError("blocked for the test: " + name)
        sys.meta_path.insert(0, Block())
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import nnx, numpy as np
            assert nnx.get_backend_name() == "vectorized", nnx.get_backend_name()
            nnx.get_backend_name(); nnx.Linear(2, 2)(np.ones((1, 2), np.float32))
        msgs = [str(x.message) for x in w if "compiled kernels are not built" in str(x.message)]
        assert len(msgs) == 1, msgs
        try:
            nnx.kernels.get_backend("cython")
        except ImportError as e:
            assert "pip install -e ." in str(e), e
        else:
            raise SystemExit("expected ImportError")
        try:
            nnx.set_backend("cython")
        except ImportError:
            pass
        else:
            raise SystemExit("expected ImportError")
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NNX_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_nnx_backend_environment_variable():
    env = dict(os.environ, NNX_BACKEND="loops")
    out = subprocess.run([sys.executable, "-c", "import nnx; print(nnx.get_backend_name())"],
                         capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "loops"


def test_dtype_is_float32_by_default():
    assert nnx.Linear(2, 2).weight.dtype == np.float32


def test_get_backend_name_names_the_tier_kernels_get_backend_gives():
    assert nnx.kernels.get_backend(nnx.get_backend_name()) is nnx.kernels.current()


def test_the_core_imports_without_the_application_side():
    """``import nnx.kernels`` (and ``import nnx``) load the core only: no training loop, no tqdm,
    no checkpoints or datasets until first touched (checked with tqdm made unimportable)."""
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tqdm" or name.startswith("tqdm."):
                    raise ImportError("no tqdm here")
        sys.meta_path.insert(0, Block())
        import nnx.kernels
        assert "nnx.train.loop" not in sys.modules and "tqdm" not in sys.modules
        import nnx
        lazy = {"nnx.train", "nnx.io", "nnx.datasets", "nnx.train.loop"}
        assert not lazy & set(sys.modules), lazy & set(sys.modules)
        nnx.Linear(3, 2)(__import__("numpy").ones((1, 3), "float32"))  # the core works
        assert nnx.save is nnx.io.save and "nnx.io" in sys.modules  # loaded on first touch
        try:
            nnx.fit
        except ImportError as exc:
            print("fit needs tqdm:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "fit needs tqdm" in out.stdout


def test_import_has_no_process_side_effect_and_fit_tunes_malloc():
    code = textwrap.dedent(
        """
        import sys, numpy as np, nnx
        assert nnx._malloc.state["applied"] is False, nnx._malloc.state
        extras = {"onnx", "onnxruntime", "safetensors", "sklearn", "torch", "matplotlib", "mpi4py", "PIL"}
        assert not extras & set(sys.modules), extras & set(sys.modules)  # optional extras stay unloaded
        m = nnx.Sequential(nnx.Linear(4, 2, rng=0))
        nnx.fit(m, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(m.parameters(), lr=0.1),
                (np.ones((8, 4), np.float32), np.zeros(8, np.int64)), progress=False)
        print(nnx._malloc.state["applied"])
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NNX_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")


def test_optimizer_by_name():
    p = [nnx.Parameter(np.zeros(2))]
    assert isinstance(nnx.optim.make("rmsprop", p, lr=0.1), nnx.optim.RMSprop)
    with pytest.raises(ValueError, match="'sgd'"):
        nnx.optim.make("lbfgs", p)


def _fake_clocks(monkeypatch):
    """The two clocks the adaptive thread rule reads (the machine's busy CPU seconds and this
    process's), as a dict the test advances, and the rule's memory reset."""
    from nnx import _config
    clock = {"t": 100.0, "busy": 1000.0, "own": 5.0}
    monkeypatch.setattr(_config.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_config, "_busy_seconds", lambda _: clock["busy"])
    monkeypatch.setattr(_config.os, "times", lambda: (clock["own"], 0.0))
    monkeypatch.setattr(_config, "_load", {"t": None, "busy": None, "own": None, "n": None, "warned": False})
    return clock


def test_default_threads_adapt_to_other_processes_load(monkeypatch):
    """Unless set explicitly, the kernels use the usable CPUs minus what other processes kept
    busy (simulated here through the two clocks the rule reads)."""
    from nnx import _config
    cpus = len(os.sched_getaffinity(0))
    clock = _fake_clocks(monkeypatch)
    monkeypatch.setattr(_config, "_state", {"n_threads": None, "explicit": False})

    def advance(others, own):  # one second during which others / this process used that many CPUs
        clock["t"] += 1
        clock["busy"] += others + own
        clock["own"] += own
        return _config.resolve_threads(None)

    assert _config.resolve_threads(None) == cpus  # first look: nothing known yet
    assert advance(0.0, cpus) == cpus              # a quiet machine keeps every CPU
    assert advance(1.0, 1.0) == max(1, cpus - 1)   # one core busy elsewhere: one thread fewer
    assert advance(cpus + 3.0, 1.0) == 1           # never fewer than one
    clock["t"] += 0.1
    assert _config.resolve_threads(None) == 1      # looked at most every 0.5 s
    assert advance(0.2, cpus) == cpus              # the load went away
    assert _config.resolve_threads(7) == 7         # an explicit argument is kept as it is
    _config._state.update(n_threads=max(cpus, 2), explicit=True)
    with pytest.warns(RuntimeWarning, match="other processes keep ~1.0"):
        assert advance(1.0, 1.0) == max(cpus, 2)   # so is an explicit setting, with one warning
    assert advance(1.0, 1.0) == max(cpus, 2)


def test_the_thread_count_reported_is_the_count_the_kernels_use(monkeypatch):
    """One answer: get_num_threads(), show_config and fit's History say what the kernels run with,
    under the adaptive default (which the suite keeps, conftest) and under an explicit setting."""
    from nnx import _config
    assert not _config._state["explicit"], "the suite should run the adaptive default"
    cpus = len(os.sched_getaffinity(0))
    clock = _fake_clocks(monkeypatch)
    _config.resolve_threads(None)
    clock["t"], clock["busy"], clock["own"] = clock["t"] + 1, clock["busy"] + cpus + 5.0, clock["own"] + 1.0
    used = _config.resolve_threads(None)
    assert used == 1 and nnx.get_num_threads() == used  # every other CPU busy: one thread, and it says so
    assert nnx._info.config_info()["threads"] == used
    m = nnx.Sequential(nnx.Linear(4, 2, rng=0))
    data = (np.ones((8, 4), np.float32), np.zeros(8, np.int64))
    h = nnx.fit(m, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(m.parameters(), lr=0.1), data, progress=False)
    assert h.params["threads"] == used
    with _config.threads(cpus):  # an explicit setting: the kernels use it, busy or not
        assert nnx.get_num_threads() == cpus == _config.resolve_threads(None)
        h = nnx.fit(m, nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(m.parameters(), lr=0.1), data, progress=False)
        assert h.params["threads"] == cpus


def test_threads_context_sets_and_restores_everything_blas_included():
    from threadpoolctl import threadpool_info

    from nnx import _config

    def blas():
        return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    before, before_blas = dict(_config._state), blas()
    with _config.threads(1):
        assert nnx.get_num_threads() == 1 and _config._state["explicit"]
        assert all(n == 1 for n in blas())
    assert _config._state == before and blas() == before_blas
    with _config.threads(None):
        assert _config._state == before
    with pytest.raises(ValueError), _config.threads(0):
        pass
    assert _config._state == before
    with pytest.raises(RuntimeError), _config.threads(1):
        raise RuntimeError("the block fails: the setting still comes back")
    assert _config._state == before and blas() == before_blas
