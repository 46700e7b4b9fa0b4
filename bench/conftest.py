"""Benchmark fixtures. `make bench` runs this folder; `make test` never collects it."""
import numpy as np
import pytest

import nnx
from nnx.kernels import compiled_available, get_backend

TIERS = ["loops", "vectorized"] + (["cython"] if compiled_available() else [])
THREADS = [1, 2]


@pytest.fixture(params=THREADS, ids=lambda n: f"{n}thr")
def threads(request):
    before = nnx.get_num_threads()
    nnx.set_num_threads(request.param)
    yield request.param
    nnx.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tier_or_torch(name):
    """The kernel namespace for a tier name, or the torch module (skipping when absent)."""
    if name == "torch":
        return pytest.importorskip("torch")
    return get_backend(name)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Record library versions next to pytest-benchmark's machine info."""
    versions = {"nnx": nnx.__version__, "numpy": np.__version__,
                "threads": "1 and 2 (see group names)"}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        pass
    info = nnx._info.config_info()
    versions["nnx OpenMP"] = info["openmp"]
    versions["nnx build flags"] = info["build_flags"]
    versions["NumPy BLAS"] = "; ".join(f"{b['internal_api']} {b['version']} ({b['architecture']})"
                                       for b in info["blas"])
    output_json["nnx_versions"] = versions
