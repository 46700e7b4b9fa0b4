"""Shared fixtures: a seeded rng, the kernel tiers and the float dtypes, one tolerance table,
the MNIST folder."""
import os
from pathlib import Path

import numpy as np
import pytest

import nnx
from nnx.kernels import compiled_available, get_backend

TIERS = ["loops", "vectorized"] + (["cython"] if compiled_available() else [])
FAST_TIERS = [t for t in TIERS if t != "loops"]
DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


def assert_allclose(actual, desired, dtype=None, **override):
    """np.testing.assert_allclose with the project's per-dtype tolerances."""
    dt = np.dtype(dtype or np.asarray(desired).dtype)
    tol = dict(TOL.get(dt, TOL[np.dtype(np.float64)]), **override)
    np.testing.assert_allclose(actual, desired, **tol)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=TIERS)
def tier(request):
    return get_backend(request.param)


@pytest.fixture(params=FAST_TIERS)
def fast_tier(request):
    return get_backend(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=TIERS)
def backend(request):
    """Run a Module-level test with each tier selected."""
    with nnx.use_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _restore_threads():
    n = nnx.get_num_threads()
    yield
    nnx.set_num_threads(n)


@pytest.fixture(scope="session")
def mnist_root():
    """The folder NNX_DATA_DIR names, when it holds MNIST; the test is skipped otherwise."""
    root = os.environ.get("NNX_DATA_DIR")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("MNIST not found through NNX_DATA_DIR")
    return root
