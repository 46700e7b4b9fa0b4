"""GEMM: loops (8x8x8 only) vs NumPy's BLAS (vectorized) vs nnx's blocked Cython GEMM vs torch.

Shapes: the square sizes of the GEMM targets, and the products LeNet-5 / MLP training calls
(128x784 @ 784x512 is the MLP's first layer, 128x256 @ 256x10 its last (nnx's narrow
micro-kernel), 784x128 @ 128x512 its first weight gradient, x^T dy with A transposed;
6x25 @ 25x100352 and 16x150 @ 150x12800 are LeNet's convolutions as one big im2col product).
"""
import numpy as np
import pytest
from conftest import TIERS, tier_or_torch

import nnx
from nnx.kernels import get_backend

SHAPES = {  # name: (M, K, N); "T" in the name: op(A) = A^T, A stored (K, M)
    "8x8x8": (8, 8, 8),
    "128x784@784x512": (128, 784, 512),
    "128x256@256x10": (128, 256, 10),
    "784x128@128x512 T": (784, 128, 512),
    "6x25@25x100352": (6, 25, 100352),
    "16x150@150x12800": (16, 150, 12800),
    "512x512@512x512": (512, 512, 512),
    "1024x1024@1024x1024": (1024, 1024, 1024),
    "2048x2048@2048x2048": (2048, 2048, 2048),
    "20000x512@512x1": (20000, 512, 1),     # logistic regression's forward: matrix-vector
    "1x20000@20000x512 T": (1, 20000, 512),  # ... and its weight gradient (g^T X)
}
# what `make test` runs untimed (the rest costs seconds)
QUICK = {"8x8x8", "128x784@784x512", "128x256@256x10", "784x128@128x512 T"}


def _operands(benchmark, rng, name, m, k_, n):
    """float32 A (transposed when the shape's name ends in " T"), B and C for an (m, k) x (k, n)
    product, with the FLOP and byte counts the tables derive GFLOP/s and GB/s from."""
    benchmark.extra_info["flops"] = 2 * m * k_ * n
    benchmark.extra_info["bytes"] = 4 * (m * k_ + k_ * n + m * n)
    trans_a = name.endswith(" T")
    a = rng.standard_normal((k_, m) if trans_a else (m, k_)).astype(np.float32)
    b = rng.standard_normal((k_, n)).astype(np.float32)
    return a, b, np.empty((m, n), np.float32), trans_a


@pytest.mark.parametrize("impl", TIERS + ["torch"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_gemm(benchmark, impl, name, threads, rng, request):
    m, k_, n = SHAPES[name]
    if impl == "loops" and name != "8x8x8":
        pytest.skip("loops only at the smallest size")
    if request.config.getoption("benchmark_disable") and name not in QUICK:
        pytest.skip("quick mode: the small shapes only")
    benchmark.group = f"gemm {name} float32, {threads} thr"
    a, b, c, trans_a = _operands(benchmark, rng, name, m, k_, n)
    k = tier_or_torch(impl)
    if impl == "torch":
        k.set_num_threads(threads)
        at, bt, ct = k.from_numpy(a), k.from_numpy(b), k.from_numpy(c)
        at = at.T if trans_a else at

        def run():
            return k.matmul(at, bt, out=ct)
    else:
        def run():
            return k.gemm(a, b, trans_a=trans_a, out=c)
    ref = (a.T if trans_a else a).astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(np.asarray(run()), ref, rtol=1e-4, atol=1e-3 * np.sqrt(k_))
    benchmark.pedantic(run, rounds=max(5, min(200, int(2e9 / (2 * m * k_ * n)))), warmup_rounds=1)


# bf16 (issue 24): nnx's bf16 path against its own fp32 GEMM and torch's bf16 and fp32 matmul.
BF16_SHAPES = {name: SHAPES[name] for name in ("128x784@784x512", "784x128@128x512 T", "512x512@512x512",
                                               "1024x1024@1024x1024", "2048x2048@2048x2048")}
BF16_SHAPES["128x512@512x256"] = (128, 512, 256)  # the MLP's second layer
BF16_IMPLS = ["cython", "cython emulated", "cython fp32", "torch", "torch fp32"]


@pytest.mark.parametrize("impl", BF16_IMPLS)
@pytest.mark.parametrize("name", list(BF16_SHAPES))
def test_gemm_bf16(benchmark, impl, name, threads, rng, request):
    """``cython``: the process's bf16 path (nnx.precision.bf16_path(): the native kernel of the CPU
    level); ``cython emulated``: float32 FMA on bf16-rounded operands; ``torch``: a bf16 matmul of
    bf16 tensors (converted outside the timing, as autocast's weight cache would hold them)."""
    m, k_, n = BF16_SHAPES[name]
    if "cython" in impl and "cython" not in TIERS:
        pytest.skip("compiled tier not built")
    if request.config.getoption("benchmark_disable") and m * k_ * n > 2 ** 26:
        pytest.skip("quick mode: the small shapes only")
    benchmark.group = f"gemm bf16 {name}, {threads} thr ({nnx.precision.bf16_path()})"
    a, b, c, trans_a = _operands(benchmark, rng, name, m, k_, n)
    if impl.startswith("torch"):
        torch = pytest.importorskip("torch")
        torch.set_num_threads(threads)
        dt = torch.float32 if impl == "torch fp32" else torch.bfloat16
        at, bt = torch.from_numpy(a).to(dt), torch.from_numpy(b).to(dt)
        at = at.T if trans_a else at
        ct = torch.empty((m, n), dtype=dt)

        def run():
            return torch.matmul(at, bt, out=ct).float()
    else:
        k = get_backend("cython")
        bf16 = {"cython": True, "cython emulated": "emulated", "cython fp32": False}[impl]

        def run():
            return k.gemm(a, b, trans_a=trans_a, out=c, bf16=bf16)
    ref = (a.T if trans_a else a).astype(np.float64) @ b.astype(np.float64)
    # bf16 operands (and torch rounds its output to bf16 too: 2^-8 relative)
    np.testing.assert_allclose(np.asarray(run()), ref, rtol=2 ** -7, atol=0.05 * np.sqrt(k_))
    benchmark.pedantic(run, rounds=max(5, min(200, int(2e9 / (2 * m * k_ * n)))), warmup_rounds=1)
