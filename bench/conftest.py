"""Benchmark fixtures. `make bench` runs this folder; `make test` never collects it."""
import time

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


@pytest.fixture(autouse=True)
def _quiet_cores(request):
    """Let other thread pools fall asleep before each measurement: OpenBLAS's workers spin for
    ~0.1 s after a call and libgomp's (torch's) too, and a spinning core slows whatever is
    measured next (measured: nnx's 1024^3 GEMM at 87 instead of ~125 GFLOP/s right after the
    BLAS and torch rows of the previous group)."""
    if not request.config.getoption("benchmark_disable"):
        time.sleep(0.3)


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
    output_json["nnx_cpu"] = cpu_peak()


def cpu_peak():
    """Theoretical float32 peak per core: nominal MHz (/proc/cpuinfo) x flop/cycle at the CPU level
    in force (two FMA units: 64 from avx512 up, 32 at avx2, else 8)."""
    level = nnx.cpu_level()
    if level in ("avx512", "avx512_bf16", "amx"):
        isa, fpc = f"{level}: AVX-512, 2 FMA units assumed", 64
    elif level == "avx2":
        isa, fpc = "avx2: AVX2+FMA", 32
    else:
        isa, fpc = "baseline: SSE", 8
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        text = ""
    mhz = next((float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")), None)
    if mhz is None:
        return {"isa": isa, "flops_per_cycle": fpc}
    return {"mhz": mhz, "isa": isa, "flops_per_cycle": fpc, "gflops_per_core": mhz * fpc / 1000}
