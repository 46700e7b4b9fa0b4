"""The seed lesson as a benchmark: logistic regression trained by full-batch gradient descent,
written three ways (examples/logistic_regression_loops_vs_vectorized.py) -- per-sample Python
loops, vectorized NumPy, and nnx (Linear + BCEWithLogitsLoss + SGD). Same data, same initial
weights, same result (checked); the report shows the speed-ups against the loops.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import logistic_regression_loops_vs_vectorized as lesson  # noqa: E402

N, D, EPOCHS, LR = 400, 8, 20, 0.5


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    y = (X @ rng.standard_normal(D) + 0.3 * rng.standard_normal(N) > 0).astype(np.float64)
    return X, y, 0.01 * rng.standard_normal(D)


@pytest.mark.parametrize("impl", ["loops", "vectorized", "nnx"])
def test_logistic_regression(benchmark, impl, problem, threads):
    X, y, w0 = problem
    benchmark.group = f"lesson: logistic regression {N}x{D}, {EPOCHS} full-batch steps, float64, {threads} thr"
    benchmark.extra_info["flops"] = EPOCHS * 4 * N * D  # X @ w and X^T @ g per step
    benchmark.extra_info["speedup_reference"] = "loops"
    f = {"loops": lesson.loops, "vectorized": lesson.vectorized, "nnx": lesson.with_nnx}[impl]
    args = (X.tolist(), y.tolist()) if impl == "loops" else (X, y)
    w, b = benchmark(lambda: f(*args, w0, 0.0, LR, EPOCHS))
    ref_w, ref_b = lesson.vectorized(X, y, w0, 0.0, LR, EPOCHS)
    np.testing.assert_allclose(w, ref_w, rtol=1e-10, atol=1e-12)
    assert abs(b - ref_b) < 1e-10
