"""The recipe of examples/mnist_fast.py in PyTorch, for the time-to-99% comparison.

Same data and normalisation, architecture (torch's default initialisation), optimizer, batch,
schedule (stepped per batch), epochs and the same kind of seeded shuffling; ``--precision bf16``
runs forward and backward under ``torch.autocast("cpu", dtype=torch.bfloat16)``. Prints the same
lines: one per epoch, ``time to 99.0%: S s (epoch E)`` (training time, evaluation excluded) and
``accuracy: A``.

usage: python bench/mnist_fast_torch.py [--seed 0] [--threads 2] [--precision fp32|bf16] [--val]
       [--epochs 4] [--train-subset N]
"""
import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from mnist_fast import RECIPE, Race, load  # noqa: E402
from mnist_lenet5 import lr_at  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--val", action="store_true")
    p.add_argument("--root", default=None)
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="length of the schedule")
    p.add_argument("--train-subset", type=int, default=None, help="only the first N training images (tests)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    X, y, Xe, ye = (torch.from_numpy(a) for a in load(args.root, args.val, args.train_subset))
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                          nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=RECIPE["lr"], momentum=RECIPE["momentum"], nesterov=True,
                          weight_decay=RECIPE["weight_decay"])
    rng = np.random.default_rng(args.seed)
    batch = RECIPE["batch_size"]
    steps = math.ceil(len(X) / batch)
    total, warmup = args.epochs * steps, max(1, round(RECIPE["warmup_epochs"] * steps))
    cast = (torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16"
            else contextlib.nullcontext())
    race, step = Race(len(X)), 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0, loss_sum = time.perf_counter(), 0.0
        order = torch.from_numpy(rng.permutation(len(X)))
        for b in range(steps):
            idx = order[b * batch:(b + 1) * batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, RECIPE["lr"], warmup)
            opt.zero_grad()
            with cast:
                out = model(X[idx])
            loss = nn.functional.cross_entropy(out.float(), y[idx])
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(idx)
            step += 1
        dt = time.perf_counter() - t0
        model.eval()
        with torch.no_grad(), cast:
            acc = float((model(Xe).argmax(1) == ye).float().mean())
        race.epoch(epoch, loss_sum, acc, dt)
    race.finish(acc)


if __name__ == "__main__":
    main()
