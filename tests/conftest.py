"""Shared fixtures: a seeded rng, the kernel tiers and the float dtypes, the thread setting kept
as each test found it, the MNIST folder. The shared constants and helpers tests import are in
helpers.py (a test module imports from there, never from conftest)."""
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import DTYPES, FAST_TIERS, TIERS

import nnx
from nnx import _config
from nnx.kernels import get_backend


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
    """Leave the thread setting as the test found it: the adaptive default stays the default (a
    set_num_threads here would make every later test run with an explicit count)."""
    saved = dict(_config._state)
    yield
    if _config._state != saved:
        explicit, n = saved["explicit"], saved["n_threads"]
        if explicit:
            nnx.set_num_threads(n)
        _config._state.clear()
        _config._state.update(saved)


@pytest.fixture(scope="session")
def mnist_root():
    """The folder NNX_DATA_DIR names, when it holds MNIST; the test is skipped otherwise."""
    root = os.environ.get("NNX_DATA_DIR")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("MNIST not found through NNX_DATA_DIR")
    return root
