"""Compare the training step of two nnx checkouts (before/after a change) on this machine.

usage: python bench/ab_steps.py OTHER_CHECKOUT [--model mlp|lenet5|cnn] [--threads N] [--rounds R]
       [--steps S]

Each round runs a fresh process per checkout (0.2 s of sleep first, so the other's thread pool
is asleep) and swaps which goes first every round: on a shared VM the process that runs first
in a round is often the faster one, and the speed drifts by tens of percent within minutes.
Each process times S single training steps of bench/_e2e_worker.py's model (batch 128) and
reports the median; the script prints both medians and the per-round ratio THIS / OTHER, then
the median ratio. OTHER_CHECKOUT must have its compiled tier built (`setup.py build_ext -i`).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
STEP = r"""
import sys, time
import numpy as np
import nnx
if hasattr(nnx, "tune_malloc"):
    nnx.tune_malloc()
sys.path.insert(0, "bench")
import _e2e_worker as w
model, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
step, _, _ = w.nnx_step(model, threads)
rng = np.random.default_rng(0)
X = rng.random((128 * 8, *((784,) if model == "mlp" else (1, 28, 28))), dtype=np.float32)
Y = rng.integers(0, 10, 128 * 8)
for b in range(8):
    step(X[b * 128:(b + 1) * 128], Y[b * 128:(b + 1) * 128])
times = []
for r in range(steps):
    b = r % 8
    t = time.perf_counter()
    step(X[b * 128:(b + 1) * 128], Y[b * 128:(b + 1) * 128])
    times.append(time.perf_counter() - t)
print(128 / float(np.median(times)))
"""


def samples_per_s(checkout, args):
    time.sleep(0.2)
    env = dict(os.environ, PYTHONPATH=str(checkout))
    out = subprocess.run([sys.executable, "-c", STEP, args.model, str(args.threads), str(args.steps)],
                         cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: the step failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("other", type=Path)
    p.add_argument("--model", choices=["mlp", "lenet5", "cnn"], default="mlp")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=150)
    args = p.parse_args(argv)
    ratios = []
    print(f"| round | this (samples/s) | other (samples/s) | this / other |  ({args.model}, {args.threads} thr)")
    for r in range(args.rounds):
        first, second = (HERE, args.other) if r % 2 == 0 else (args.other, HERE)
        got = {first: samples_per_s(first, args)}
        got[second] = samples_per_s(second, args)
        ratios.append(got[HERE] / got[args.other])
        print(f"| {r + 1} | {got[HERE]:.0f} | {got[args.other]:.0f} | {ratios[-1]:.3f} |", flush=True)
    print(f"median ratio this / other: {statistics.median(ratios):.3f} (range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
