"""A residual MLP built as an nnx.Graph: a skip connection joined by Add, batch norm and
dropout, trained on the digits.

The lesson: a network is a DAG; backward visits it in reverse order and the input of a
residual block receives the sum of the gradients of both paths. Prints nnx.summary, per-epoch
loss and the final test accuracy. Run with --help.
"""
import argparse

import numpy as np

import nnx


def build(width, p, seed):
    rng = np.random.default_rng(seed)
    g = nnx.Graph()
    x = g.input("x")
    h = g.node("stem", nnx.Linear(64, width, rng=rng), x)
    h = g.node("stem_act", nnx.ReLU(), h)
    b = g.node("fc1", nnx.Linear(width, width, rng=rng), h)
    b = g.node("bn1", nnx.BatchNorm1d(width), b)
    b = g.node("act1", nnx.ReLU(), b)
    b = g.node("drop", nnx.Dropout(p, rng=rng), b)
    b = g.node("fc2", nnx.Linear(width, width, rng=rng), b)
    r = g.node("skip", nnx.Add(), b, h)  # h feeds both the block and the skip
    r = g.node("act2", nnx.ReLU(), r)
    g.output(g.node("head", nnx.Linear(width, 10, rng=rng), r))
    return g


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    X, y, Xt, yt = nnx.datasets.load_digits()
    X, Xt = X.reshape(len(X), -1), Xt.reshape(len(Xt), -1)
    model = build(args.width, args.dropout, args.seed)
    nnx.summary(model, (1, 64))
    crit = nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = nnx.optim.CosineAnnealingLR(opt, T_max=args.epochs)
    loader = nnx.datasets.DataLoader(X, y, batch_size=64, rng=args.seed)
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            total += crit(model(xb), yb) * len(xb)
            model.backward(crit.backward())
            opt.step()
        sched.step()
        print(f"epoch {epoch:3d}  loss {total / len(X):.4f}  lr {sched.get_last_lr()[0]:.5f}")
    acc = float((model.eval()(Xt).argmax(1) == yt).mean())
    print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
