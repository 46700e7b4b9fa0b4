"""GEMM on the shapes MLP training calls (all tiers use NumPy's BLAS for now but loops)."""
import numpy as np
import pytest
from conftest import TIERS, tier_or_torch

SHAPES = {"8x8x8": (8, 8, 8), "128x784@784x512": (128, 784, 512), "512x512@512x512": (512, 512, 512)}


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_gemm(benchmark, impl, name, threads, rng):
    m, k_, n = SHAPES[name]
    if impl == "loops" and name != "8x8x8":
        pytest.skip("loops only at the smallest size")
    benchmark.group = f"gemm {name} float32, {threads} thr"
    benchmark.extra_info["flops"] = 2 * m * k_ * n
    a = rng.standard_normal((m, k_)).astype(np.float32)
    b = rng.standard_normal((k_, n)).astype(np.float32)
    k = tier_or_torch(impl)
    if impl == "torch":
        k.set_num_threads(threads)
        at, bt = k.from_numpy(a), k.from_numpy(b)

        def run():
            return at @ bt
    else:
        def run():
            return k.gemm(a, b)
    np.testing.assert_allclose(np.asarray(run()), a @ b, rtol=1e-3, atol=1e-3)
    benchmark(run)
