"""Fused softmax-cross-entropy (loss and gradient) vs the NumPy composition, 256 x 1000."""
import numpy as np
import pytest
from conftest import TIERS, tier_or_torch


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("shape", [(8, 10), (256, 1000)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_softmax_cross_entropy(benchmark, impl, shape, threads, rng):
    if impl == "loops" and shape != (8, 10):
        pytest.skip("loops only at the smallest size")
    benchmark.group = f"softmax_cross_entropy {shape[0]}x{shape[1]} float32, {threads} thr"
    benchmark.extra_info["flops"] = 5 * shape[0] * shape[1]  # max, sub, exp (counted once), sum, grad
    benchmark.extra_info["bytes"] = 4 * shape[0] * shape[1] * 2 + 8 * shape[0]  # logits in, grad out, labels
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, shape[1], shape[0])
    k = tier_or_torch(impl)
    if impl == "torch":
        k.set_num_threads(threads)
        xt, yt = k.from_numpy(x).requires_grad_(), k.from_numpy(y)

        def run():
            xt.grad = None
            loss = k.nn.functional.cross_entropy(xt, yt)
            loss.backward()
            return loss.item(), xt.grad
    else:
        def run():
            return k.softmax_cross_entropy(x, y)
    loss, _ = run()
    ref = get_ref(x, y)
    assert abs(loss - ref) <= 1e-5 * abs(ref)
    benchmark(run)


def get_ref(x, y):
    x = x.astype(np.float64)
    m = x.max(1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(1)) + m[:, 0]
    return float((lse - x[np.arange(len(y)), y]).mean())
