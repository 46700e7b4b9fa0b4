"""Time to 99.0% MNIST test accuracy: examples/mnist_fast.py (nnx) against bench/mnist_fast_torch.py
(the same recipe in PyTorch), seeds 0, 1, 2, alternating fresh processes (bench/NOTES.md):

    python bench/time_to_99.py [--threads 2] [--precision fp32|bf16] [--seeds 0,1,2]

Prints each run's time to 99.0% (training time to the end of the first epoch at >= 99.0%) and
final accuracy, then the medians side by side. Needs MNIST through NNX_DATA_DIR, and torch.
"""
import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=True).stdout
    t = re.search(r"time to 99\.0%: ([\d.]+) s \(epoch (\d+)\)", out)
    acc = float(re.search(r"accuracy: ([\d.]+)\s*$", out).group(1))
    return (float(t.group(1)), int(t.group(2)), acc) if t else (None, None, acc)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    common = ["--threads", str(args.threads), "--precision", args.precision]
    res = {"nnx": [], "torch": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, script in (("nnx", ROOT / "examples" / "mnist_fast.py"),
                             ("torch", ROOT / "bench" / "mnist_fast_torch.py")):
            r = run([sys.executable, str(script), "--seed", str(seed), *common])
            res[name].append(r)
            reached = f"{r[0]:.1f} s (epoch {r[1]})" if r[0] is not None else "not reached"
            print(f"seed {seed} {name:5s}: time to 99.0% {reached}, final accuracy {r[2]:.4f}", flush=True)
            time.sleep(0.2)
    for name, rows in res.items():
        times = [r[0] for r in rows if r[0] is not None]
        med = f"{statistics.median(times):.1f} s" if len(times) == len(rows) else \
            f"reached in {len(times)} of {len(rows)} runs"
        print(f"{name}: median time to 99.0% {med}; final accuracies "
              + ", ".join(f"{r[2]:.4f}" for r in rows))


if __name__ == "__main__":
    main()
