"""End-to-end training throughput, batch 128, SGD momentum, synthetic MNIST-shaped data, nnx
vs torch at 1 and 2 threads: MLP 784-512-256-10, LeNet-5, and a wider CNN
(conv 32@3x3 -> pool -> conv 64@3x3 -> pool -> 3136-128-10).

Each measurement runs in a fresh process (see _e2e_worker.py) and is the best of 5 runs of
10 steps. The two frameworks alternate, nnx then torch, for ROUNDS rounds, so that a slow
spell of this shared VM (a core can lose two thirds of its speed for seconds) hits both
rather than whichever happened to run then; each round gives one nnx/torch ratio. The values
(samples/s) are stored in ``extra_info`` and tabulated by report.py; the pytest-benchmark
timing columns of this group time the subprocesses and are not used.
"""
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_e2e_worker.py")
ROUNDS = 5
TITLES = {"mlp": "MLP 784-512-256-10", "lenet5": "LeNet-5", "cnn": "CNN 32@3x3-64@3x3-128-10"}


def samples_per_s(framework, model, nthreads):
    """``framework``: nnx, torch, or either with " bf16" (mixed precision, _e2e_worker.py)."""
    out = subprocess.run([sys.executable, str(WORKER), framework.replace(" bf16", "-bf16"), model, str(nthreads)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("nthreads", [1, 2], ids=lambda n: f"{n}thr")
@pytest.mark.parametrize("model", list(TITLES))
def test_train(benchmark, model, nthreads):
    try:
        import torch  # noqa: F401
        frameworks = ["nnx", "torch"]
    except ImportError:
        frameworks = ["nnx"]
    benchmark.group = f"e2e {TITLES[model]} train, batch 128, {nthreads} thr"
    runs = {fw: [] for fw in frameworks}

    def one_round():
        for fw in frameworks:
            runs[fw].append(samples_per_s(fw, model, nthreads))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["samples_per_s"] = runs
    if "torch" in runs:
        benchmark.extra_info["pair_ratios"] = [a / b for a, b in zip(runs["nnx"], runs["torch"], strict=True)]
    assert all(v > 0 for vals in runs.values() for v in vals)


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_train_bf16(benchmark, model):
    """Mixed precision (issue 24): nnx and torch in bf16 beside both in fp32, alternating, 2 threads."""
    import nnx
    try:
        import torch  # noqa: F401
        frameworks = ["nnx bf16", "torch bf16", "nnx", "torch"]
    except ImportError:
        frameworks = ["nnx bf16", "nnx"]
    benchmark.group = f"e2e {TITLES[model]} train bf16 ({nnx.precision.bf16_path()}), batch 128, 2 thr"
    runs = {fw: [] for fw in frameworks}

    def one_round():
        for fw in frameworks:
            runs[fw].append(samples_per_s(fw, model, 2))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["samples_per_s"] = runs
    ref = "torch bf16" if "torch bf16" in runs else "nnx"
    benchmark.extra_info["pair_ratios"] = [a / b for a, b in zip(runs["nnx bf16"], runs[ref], strict=True)]
    benchmark.extra_info["pair_label"] = f"nnx bf16 / {ref} per round"
    assert all(v > 0 for vals in runs.values() for v in vals)


def test_busy_core(benchmark):
    """LeNet-5 with another process spinning on one core: nnx's default thread count (which adapts
    to the load) against --threads 1, alternating, each over 3 s of steady training. Target
    (issue 17): the default >= 0.9x one thread (two fixed threads ran at ~0.45x)."""
    benchmark.group = "e2e LeNet-5 train, batch 128, one core busy"
    runs = {"nnx default threads": [], "nnx 1 thread": [], "nnx 2 threads (fixed)": []}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        def one_round():
            for name, threads in zip(runs, (0, 1, 2), strict=True):
                out = subprocess.run([sys.executable, str(WORKER), "nnx", "lenet5", str(threads), "3"],
                                     capture_output=True, text=True, check=True)
                runs[name].append(float(out.stdout.strip().splitlines()[-1]))

        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    finally:
        busy.kill()
        busy.wait()
    benchmark.extra_info["samples_per_s"] = runs
    benchmark.extra_info["pair_ratios"] = [a / b for a, b in zip(runs["nnx default threads"], runs["nnx 1 thread"],
                                                                  strict=True)]
    benchmark.extra_info["pair_label"] = "default / 1 thread per round"
    assert all(v > 0 for vals in runs.values() for v in vals)
