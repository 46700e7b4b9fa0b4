"""What test modules share beside the fixtures of conftest.py: the kernel tiers this build has,
the float dtypes, and one tolerance table (float32 ~1e-5 relative, float64 ~1e-10)."""
import numpy as np

from nnx.kernels import compiled_available

TIERS = ["loops", "vectorized"] + (["cython"] if compiled_available() else [])
FAST_TIERS = [t for t in TIERS if t != "loops"]
DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


def assert_allclose(actual, desired, dtype=None, **override):
    """np.testing.assert_allclose with the project's per-dtype tolerances."""
    dt = np.dtype(dtype or np.asarray(desired).dtype)
    tol = dict(TOL.get(dt, TOL[np.dtype(np.float64)]), **override)
    np.testing.assert_allclose(actual, desired, **tol)
