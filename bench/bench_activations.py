"""ReLU forward + backward on a conv-sized activation (128x16x28x28) and a small one."""
import numpy as np
import pytest
from conftest import TIERS, tier_or_torch


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("shape", [(2, 4, 8, 8), (128, 16, 28, 28)], ids=lambda s: "x".join(map(str, s)))
def test_relu_forward_backward(benchmark, impl, shape, threads, rng):
    if impl == "loops" and shape != (2, 4, 8, 8):
        pytest.skip("loops only at the smallest size")
    benchmark.group = f"relu fwd+bwd {'x'.join(map(str, shape))} float32, {threads} thr"
    size = int(np.prod(shape))
    benchmark.extra_info["flops"] = 2 * size  # a compare per element in each direction
    benchmark.extra_info["bytes"] = size * (4 + 4 + 1) + size * (4 + 1 + 4)  # x->y,mask; dy,mask->dx
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    k = tier_or_torch(impl)
    if impl == "torch":
        k.set_num_threads(threads)
        xt, dyt = k.from_numpy(x), k.from_numpy(dy)

        def run():
            y = k.relu(xt)
            return k.ops.aten.threshold_backward(dyt, y, 0)
    else:
        def run():
            y, mask = k.relu_forward(x)
            return k.relu_backward(dy, mask)
    dx = np.asarray(run())
    np.testing.assert_array_equal(dx, np.where(x > 0, dy, 0))
    benchmark(run)
