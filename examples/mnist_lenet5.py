"""Train LeNet-5 on MNIST (or Fashion-MNIST) with explicit backward passes.

LeNet-5 as in the issue: conv 6@5x5 pad 2 -> ReLU -> maxpool 2 -> conv 16@5x5 -> ReLU ->
maxpool 2 -> 120 -> 84 -> 10, SGD with Nesterov momentum, a linear warm-up and cosine decay of
the learning rate. The data are found through --root, $NNX_DATA_DIR or the user cache
(``--download`` fetches them). Prints progress per epoch, the wall time, and finally
``test accuracy: 0.xxxx``. Run with --help for the options. bench/lenet5_torch_recipe.py is the
same recipe in PyTorch, for the time-to-99% comparison.
"""
import argparse
import math
import time

import numpy as np

import nnx

MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel statistics (used for both kinds)


def lenet5(rng, dtype=np.float32, normalize=True):
    """LeNet-5; with ``normalize`` its first layer standardises raw pixels in [0, 1]."""
    first = [nnx.Normalize(MEAN, STD, dtype=dtype)] if normalize else []
    return nnx.Sequential(
        *first,
        nnx.Conv2d(1, 6, 5, padding=2, dtype=dtype, rng=rng), nnx.ReLU(), nnx.MaxPool2d(2),
        nnx.Conv2d(6, 16, 5, dtype=dtype, rng=rng), nnx.ReLU(), nnx.MaxPool2d(2),
        nnx.Flatten(),
        nnx.Linear(400, 120, dtype=dtype, rng=rng), nnx.ReLU(),
        nnx.Linear(120, 84, dtype=dtype, rng=rng), nnx.ReLU(),
        nnx.Linear(84, 10, dtype=dtype, rng=rng),
    )


def evaluate(model, X, y, batch_size=1000):
    model.eval()
    correct = 0
    for i in range(0, len(X), batch_size):
        correct += int((model(X[i:i + batch_size]).argmax(axis=1) == y[i:i + batch_size]).sum())
    model.train()
    return correct / len(X)


def lr_at(step, total, peak, warmup):
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to 0."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=["mnist", "fashion-mnist"], default="mnist")
    p.add_argument("--root", default=None, help="folder with the IDX .gz files")
    p.add_argument("--download", action="store_true", help="download missing files (MD5-checked)")
    p.add_argument("--epochs", type=int, default=12, help="default 12")
    p.add_argument("--batch-size", type=int, default=128, help="default 128")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--train-subset", type=int, default=None, help="use only the first N training images")
    p.add_argument("--backend", choices=nnx.kernels.BACKENDS, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write training curves, confusion matrix, filters, misclassified digits (PNG) into DIR")
    p.add_argument("--save", metavar="PATH", default=None, help="save the trained model (nnx.save, .npz)")
    args = p.parse_args(argv)

    if args.backend:
        nnx.set_backend(args.backend)
    if args.threads:
        nnx.set_num_threads(args.threads)
    try:
        X_train, y_train, X_test, y_test = nnx.datasets.load_mnist(args.root, args.data, args.download)
    except FileNotFoundError as exc:  # one line saying where nnx looked and how to point it at the files
        raise SystemExit(f"mnist_lenet5.py: error: {exc}") from None
    if args.train_subset:
        X_train, y_train = X_train[:args.train_subset], y_train[:args.train_subset]
    pictures = X_test  # the raw images, for the misclassified-digits plot; the model standardises its input

    rng = np.random.default_rng(args.seed)
    model = lenet5(rng)
    crit = nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, nesterov=True,
                        weight_decay=args.weight_decay)
    loader = nnx.datasets.DataLoader(X_train, y_train, batch_size=args.batch_size, rng=rng)
    total, warmup = args.epochs * len(loader), len(loader)
    print(f"{args.data}: {len(X_train)} train / {len(X_test)} test, LeNet-5 "
          f"({model.num_parameters()} parameters), backend={nnx.get_backend_name()}, "
          f"threads={nnx.get_num_threads()}")
    history = nnx.History({"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed})
    nnx.tune_malloc()  # let freed activations be reused, not page-faulted in every step (as nnx.fit does)
    start, step, reached = time.perf_counter(), 0, None
    for epoch in range(1, args.epochs + 1):
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        for xb, yb in loader:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, args.lr, warmup)
            opt.zero_grad()
            loss = crit(model(xb), yb)
            model.backward(crit.backward(), input_grad=False)
            opt.step()
            loss_sum, seen, step = loss_sum + loss * len(xb), seen + len(xb), step + 1
        dt = time.perf_counter() - t0
        acc = evaluate(model, X_test, y_test)
        wall = time.perf_counter() - start
        if reached is None and acc >= 0.99:
            reached = wall
        history.append({"epoch": epoch, "loss": loss_sum / seen, "val_accuracy": acc,
                        "lr": opt.param_groups[0]["lr"], "time": dt, "samples_per_sec": seen / dt})
        print(f"epoch {epoch:2d}  loss {loss_sum / seen:.4f}  test acc {acc:.4f}  "
              f"{dt:.1f} s  {seen / dt:,.0f} samples/s  wall {wall:.1f} s", flush=True)
    print(f"wall time: {time.perf_counter() - start:.1f} s"
          + (f" (99.0% first reached after {reached:.1f} s)" if reached else ""))
    print(f"test accuracy: {evaluate(model, X_test, y_test):.4f}")
    if args.save:
        nnx.save(model, args.save, metadata=nnx.io.input_metadata(
            (1, 28, 28), classes=nnx.datasets.CLASS_NAMES.get(args.data, range(10)), data=args.data))
        print(f"saved {args.save}")
    if args.plots:
        for path in nnx.plot.plot_report(args.plots, history, model, X_test, y_test, images=pictures):
            print(f"wrote {path}")
    return model


if __name__ == "__main__":
    main()
