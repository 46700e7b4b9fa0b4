"""nnx's blocked GEMM against NumPy's OpenBLAS, float32, as alternating pairs (a script, not a
pytest-benchmark group).

usage: python bench/pair_gemm.py [M K N ...] [--rounds R] [--threads 1,2]
(default shapes: 512^3, 1024^3, 2048^3 and the MLP's 128x784 @ 784x512)

Why pairs: on a shared VM one core can run at a third of its speed for seconds at a time, so
two numbers measured minutes apart compare the weather, not the code. Here every round times
nnx and then OpenBLAS on the same shape within a second; each round gives one ratio, and the
median ratio over the rounds is the number to quote. Each timing is preceded by 0.2 s of sleep
and one untimed call, so that the other library's spinning worker threads (OpenBLAS's spin
~0.1 s after a call, libgomp's too) are asleep and cannot steal the second core.
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from nnx.kernels import get_backend

DEFAULT = [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (128, 784, 512)]


def timed(fn, reps, limit=None):
    """Seconds per call of ``fn`` (``limit``: OpenBLAS's thread count, set once around the
    loop: setting it per call would time threadpoolctl, not the product)."""
    time.sleep(0.2)
    with threadpool_limits(limit, user_api="blas"):
        fn()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) / reps


def pair(m, k, n, threads, rounds):
    """Median and quartiles of time(OpenBLAS) / time(nnx) over ``rounds`` alternating pairs,
    and the best GFLOP/s of each."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    cython = get_backend("cython")
    reps = max(1, min(1000, int(2e8 / (2 * m * n * k))))  # ~0.1 s per timing, 1000 calls at most

    def nnx_call():
        cython.gemm(a, b, out=c, n_threads=threads)

    def blas_call():
        np.matmul(a, b, out=c)

    ratios, t_nnx, t_blas = [], [], []
    for _ in range(rounds):
        x, y = timed(nnx_call, reps), timed(blas_call, reps, threads)
        t_nnx.append(x)
        t_blas.append(y)
        ratios.append(y / x)
    ratios.sort()
    q = len(ratios) // 4
    flops = 2 * m * n * k
    return ratios[len(ratios) // 2], ratios[q], ratios[-1 - q], flops / min(t_nnx) / 1e9, flops / min(t_blas) / 1e9


def main(argv):
    rounds, threads = 20, [1, 2]
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if "--threads" in argv:
        i = argv.index("--threads")
        threads = [int(t) for t in argv[i + 1].split(",")]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) % 3:
        raise SystemExit(__doc__)
    dims = [int(v) for v in argv]
    shapes = [tuple(dims[i:i + 3]) for i in range(0, len(dims), 3)] or DEFAULT
    print("| shape | threads | speed nnx / OpenBLAS, median (quartiles) | best GFLOP/s nnx | OpenBLAS |")
    print("|---|---:|---:|---:|---:|")
    for m, k, n in shapes:
        for t in threads:
            med, lo, hi, g_nnx, g_blas = pair(m, k, n, t, rounds)
            print(f"| {m}x{k} @ {k}x{n} | {t} | {med:.2f} ({lo:.2f}-{hi:.2f}) | {g_nnx:.0f} | {g_blas:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
