"""The machine's limits the roofline notes of bench/README.md are measured against.

Memory bandwidth: a large float32 copy (read + write) -- what a streaming kernel can hope for.
The compute peak is not measured here: the report takes the best GEMM GFLOP/s of the same run
(OpenBLAS, nnx or torch) as the attainable peak, next to the theoretical one from the CPU flags
and nominal clock.
"""
import numpy as np
import pytest

MB = 256


@pytest.mark.parametrize("impl", ["numpy"])
def test_memory_bandwidth(benchmark, impl, request):
    n = (8 if request.config.getoption("benchmark_disable") else MB) * (1 << 20) // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    benchmark.group = f"machine: memory bandwidth, copy {n * 4 >> 20} MB float32"
    benchmark.extra_info["bytes"] = 2 * 4 * n
    benchmark(np.copyto, dst, src)
    assert dst[-1] == 1
