"""Data parallelism on one machine: samples/s of 1 process x 2 threads against 2 processes x 1 thread
at the same global batch (docs/distributed.md, bench/NOTES.md):

    python bench/dp_throughput.py [--rounds 3] [--model lenet5|mlp]

Each round runs, in fresh processes and alternating, ``fit`` on 20,000 MNIST images (NNX_DATA_DIR;
``--samples`` to change)
for 2 epochs, global batch 128, SGD with momentum: once as one process at 2 threads, once under
``mpiexec -n 2`` at one thread per rank (64 samples per rank); the second epoch's samples/s is
compared (the first warms up). Prints each round's figures and ratio, and the median ratio.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import sys, nnx
model_name, threads, dist, n = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
rank, world = nnx.distributed.init() if dist else (0, 1)
nnx.set_num_threads(threads)
X, y, _, _ = nnx.datasets.load_mnist()
mean, std = nnx.datasets.NORMALIZE["mnist"]
X = ((X[:n] - mean) / std).astype("float32")
y = y[:n]
model = nnx.models.lenet5(rng=0) if model_name == "lenet5" else nnx.models.mlp(hidden=(512, 256), rng=0)
opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
h = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=2, batch_size=128 // world, seed=0,
            progress=False, distributed=dist)
if rank == 0:
    print("SPS", h["samples_per_sec"][-1])
"""


def run(cmd):
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=True).stdout
    return float(re.search(r"SPS (\S+)", out).group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", choices=["lenet5", "mlp"], default="lenet5")
    p.add_argument("--samples", type=int, default=20000, help="MNIST training images per epoch (default 20000)")
    args = p.parse_args()
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    ratios = []
    for r in range(args.rounds):
        single = run([sys.executable, "-c", WORKER, args.model, "2", "0", str(args.samples)])
        time.sleep(0.2)
        dist = run([mpiexec, "-n", "2", sys.executable, "-c", WORKER, args.model, "1", "1", str(args.samples)])
        time.sleep(0.2)
        ratios.append(dist / single)
        print(f"round {r + 1}: 1 process x 2 threads {single:,.0f}, 2 processes x 1 thread {dist:,.0f} samples/s "
              f"({ratios[-1]:.2f}x)", flush=True)
    print(f"{args.model}: median {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
