"""Train an MLP on the 8x8 digits shipped with nnx, with explicit backward passes.

The lesson: a training step is forward -> loss -> backward -> optimizer step, spelled out.
Run ``python examples/digits_mlp.py --help`` for the options.
"""
import argparse
import math
import time

import numpy as np

import nnx


def build_model(hidden, rng, mean, std):
    # The preprocessing is part of the model: it takes raw 8x8 images in [0, 1], wherever it is used.
    return nnx.Sequential(
        nnx.Flatten(), nnx.Normalize(mean, std),
        nnx.Linear(64, hidden, rng=rng), nnx.ReLU(),
        nnx.Linear(hidden, hidden // 2, rng=rng), nnx.ReLU(),
        nnx.Linear(hidden // 2, 10, rng=rng),
    )


def accuracy(model, X, y, batch_size=512):
    model.eval()
    correct = 0
    for i in range(0, len(X), batch_size):
        correct += int((model(X[i:i + batch_size]).argmax(axis=1) == y[i:i + batch_size]).sum())
    model.train()
    return correct / len(X)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=40, help="passes over the training set (default 40)")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--lr", type=float, default=0.05, help="peak SGD learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (default 5e-4)")
    p.add_argument("--hidden", type=int, default=256, help="width of the first hidden layer (default 256)")
    p.add_argument("--backend", choices=nnx.kernels.BACKENDS, default=None,
                   help="kernel tier (default: cython when built, else vectorized)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all usable CPUs)")
    p.add_argument("--seed", type=int, default=0, help="seed for init and shuffling (default 0)")
    p.add_argument("--plots", metavar="DIR", default=None,
                   help="write training curves, confusion matrix, misclassified digits (PNG) into DIR")
    p.add_argument("--save", metavar="PATH", default=None, help="save the trained model (nnx.save, .npz)")
    args = p.parse_args(argv)

    if args.backend:
        nnx.set_backend(args.backend)
    if args.threads:
        nnx.set_num_threads(args.threads)
    X_train, y_train, X_test, y_test = nnx.datasets.load_digits()
    # Standardise each pixel with training statistics (a constant border pixel keeps std 1), inside
    # the model: Normalize(mean, std) with one value per pixel of the flattened image.
    pixels = X_train.reshape(len(X_train), -1)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    std[std == 0] = 1
    rng = np.random.default_rng(args.seed)
    model = build_model(args.hidden, rng, mean, std)
    criterion = nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay)
    loader = nnx.datasets.DataLoader(X_train, y_train, batch_size=args.batch_size, rng=rng)
    print(f"digits: {len(X_train)} train / {len(X_test)} test, backend={nnx.get_backend_name()}, "
          f"threads={nnx.get_num_threads()}, {model.num_parameters()} parameters")
    history = nnx.History({"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed})
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        # Cosine learning-rate decay, written out: large steps first, fine steps at the end.
        lr = 0.5 * args.lr * (1 + math.cos(math.pi * (epoch - 1) / args.epochs))
        for group in opt.param_groups:
            group["lr"] = lr
        t0, total, seen = time.perf_counter(), 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = criterion(model(xb), yb)     # forward
            model.backward(criterion.backward(), input_grad=False)  # backward, explicit
            opt.step()
            total, seen = total + loss * len(xb), seen + len(xb)
        dt = time.perf_counter() - t0
        train_acc = accuracy(model, X_train, y_train)
        history.append({"epoch": epoch, "loss": total / seen, "accuracy": train_acc, "lr": lr, "time": dt,
                        "samples_per_sec": seen / dt,
                        **({"val_accuracy": accuracy(model, X_test, y_test)} if args.plots else {})})
        print(f"epoch {epoch:3d}  loss {total / seen:.4f}  train acc {train_acc:.4f}  {dt * 1e3:.0f} ms")
    print(f"trained in {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {accuracy(model, X_test, y_test):.4f}")
    if args.save:
        # what every consumer reads beside the model: it takes 8x8 images in [0, 1]
        nnx.save(model, args.save, metadata=nnx.io.input_metadata((1, 8, 8), classes=range(10), data="digits"))
        print(f"saved {args.save}")
    if args.plots:
        for path in nnx.plot.plot_report(args.plots, history, model, X_test, y_test):
            print(f"wrote {path}")
    return model


if __name__ == "__main__":
    main()
