"""End-to-end training throughput, batch 128, SGD momentum, synthetic MNIST-shaped data, nnx
vs torch at 1 and 2 threads: MLP 784-512-256-10, LeNet-5, and a wider CNN
(conv 32@3x3 -> pool -> conv 64@3x3 -> pool -> 3136-128-10).

Each measurement runs in a fresh process (see _e2e_worker.py) and is the best of 5 runs of
10 steps (3 processes, best kept); the result, samples/s, is stored in ``extra_info`` and tabulated by report.py.
The pytest-benchmark timing columns of this group time the subprocess and are not used.
"""
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_e2e_worker.py")


TITLES = {"mlp": "MLP 784-512-256-10", "lenet5": "LeNet-5", "cnn": "CNN 32@3x3-64@3x3-128-10"}


@pytest.mark.parametrize("framework", ["nnx", "torch"])
@pytest.mark.parametrize("nthreads", [1, 2], ids=lambda n: f"{n}thr")
@pytest.mark.parametrize("model", list(TITLES))
def test_train(benchmark, model, framework, nthreads):
    if framework == "torch":
        pytest.importorskip("torch")
    benchmark.group = f"e2e {TITLES[model]} train, batch 128, {nthreads} thr"
    results = []

    def run():
        out = subprocess.run([sys.executable, str(WORKER), framework, model, str(nthreads)],
                             capture_output=True, text=True, check=True)
        results.append(float(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["samples_per_s"] = max(results)
    assert max(results) > 0
