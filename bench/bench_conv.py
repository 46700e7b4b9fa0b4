"""Convolution and max-pool forward+backward: NumPy im2col tier vs Cython tier vs torch."""
import numpy as np
import pytest
from conftest import TIERS, tier_or_torch

# name: (N, C, OC, H, K, pad)
CONV = {
    "tiny 2x2->3 6x6 k3": (2, 2, 3, 6, 3, 1),
    "lenet conv1 128x1->6 28x28 k5 p2": (128, 1, 6, 28, 5, 2),
    "lenet conv2 128x6->16 14x14 k5": (128, 6, 16, 14, 5, 0),
    "wide 64x32->64 32x32 k3 p1": (64, 32, 64, 32, 3, 1),
}
POOL = {"tiny 2x3x6x6": (2, 3, 6, 6), "lenet 128x6x28x28": (128, 6, 28, 28), "wide 64x64x32x32": (64, 64, 32, 32)}


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_forward_backward(benchmark, impl, name, threads, rng):
    n, c, oc, h, k, p = CONV[name]
    if impl == "loops" and not name.startswith("tiny"):
        pytest.skip("loops only at the smallest size")
    benchmark.group = f"conv2d fwd+bwd {name} float32, {threads} thr"
    oh = h + 2 * p - k + 1
    benchmark.extra_info["flops"] = 3 * 2 * n * oc * c * k * k * oh * oh  # forward + dW + dx
    # compulsory traffic: x, w read twice, y written, dy read, dx and dw written
    benchmark.extra_info["bytes"] = 4 * (2 * n * c * h * h + 3 * oc * c * k * k + 2 * n * oc * oh * oh + n * c * h * h)
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((oc, c, k, k)) * 0.1).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    dy = rng.standard_normal((n, oc, oh, oh)).astype(np.float32)
    mod = tier_or_torch(impl)
    if impl == "torch":
        mod.set_num_threads(threads)
        xt, wt, bt, dyt = (mod.from_numpy(a) for a in (x, w, b, dy))
        for a in (xt, wt, bt):
            a.requires_grad_()

        def run():
            xt.grad = wt.grad = bt.grad = None
            mod.nn.functional.conv2d(xt, wt, bt, padding=p).backward(dyt)
            return wt.grad.numpy()
    else:
        def run():
            y, cache = mod.conv2d_forward(x, w, b, 1, p)
            return mod.conv2d_backward(dy, cache)[1]
    dw = run()
    ref = tier_or_torch("vectorized")
    dw_ref = ref.conv2d_backward(dy, ref.conv2d_forward(x, w, b, 1, p)[1])[1]
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-3, atol=1e-2)  # float32 sums of up to 1e5 terms
    benchmark(run)


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("name", list(POOL))
def test_maxpool_forward_backward(benchmark, impl, name, threads, rng):
    if impl == "loops" and not name.startswith("tiny"):
        pytest.skip("loops only at the smallest size")
    benchmark.group = f"maxpool2d 2x2 fwd+bwd {name} float32, {threads} thr"
    size = int(np.prod(POOL[name]))
    benchmark.extra_info["flops"] = size  # one compare per input element
    benchmark.extra_info["bytes"] = 4 * size + (4 + 1) * size // 4 + 4 * size // 4 + 4 * size  # x; y, argmax; dy; dx
    x = rng.standard_normal(POOL[name]).astype(np.float32)
    mod = tier_or_torch(impl)
    if impl == "torch":
        mod.set_num_threads(threads)
        xt = mod.from_numpy(x).requires_grad_()

        def run():
            xt.grad = None
            y = mod.nn.functional.max_pool2d(xt, 2)
            y.backward(y)
            return xt.grad.numpy()
    else:
        def run():
            y, arg = mod.maxpool2d_forward(x, 2)
            return mod.maxpool2d_backward(y, arg, x.shape)
    dx = run()
    win = x.reshape(x.shape[0], x.shape[1], x.shape[2] // 2, 2, x.shape[3] // 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(dx.sum(), win.sum(), rtol=1e-4)  # dx routes y onto the maxima
    benchmark(run)
