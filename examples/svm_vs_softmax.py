"""A linear classifier on the digits with the multiclass SVM (hinge) loss vs softmax
cross-entropy, each with L2, L1 and elastic-net weight penalties.

The lesson: the loss and the regulariser are choices, and the penalty's gradient is simply
added to the weight gradient. Prints test accuracy and the fraction of (near-)zero weights
(L1 makes weights sparse). Run with --help.
"""
import argparse

import numpy as np

import nnx


def train(loss_name, penalty, lam, data, epochs, seed):
    X, y, Xt, yt = data
    model = nnx.Linear(64, 10, rng=seed)
    crit = nnx.HingeLoss() if loss_name == "hinge" else nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    reg = {"L2": lambda ps: nnx.regularization.l2(ps, lam),
           "L1": lambda ps: nnx.regularization.l1(ps, lam),
           "elastic": lambda ps: nnx.regularization.elastic_net(ps, lam, 0.5)}[penalty]
    loader = nnx.datasets.DataLoader(X, y, batch_size=64, rng=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            crit(model(xb), yb)
            model.backward(crit.backward(), input_grad=False)
            reg([model.weight])  # penalise the weights, not the bias
            opt.step()
    acc = float((model.eval()(Xt).argmax(1) == yt).mean())
    sparsity = float((np.abs(model.weight.data) < 1e-3).mean())
    return acc, sparsity


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lam", type=float, default=1e-3, help="penalty strength (default 1e-3)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    X, y, Xt, yt = nnx.datasets.load_digits()
    data = (X.reshape(len(X), -1), y, Xt.reshape(len(Xt), -1), yt)
    results = {}
    print(f"{'loss':<9}{'penalty':<9}{'test acc':>9}{'zero weights':>14}")
    for loss_name in ("hinge", "softmax"):
        for penalty in ("L2", "L1", "elastic"):
            acc, sparsity = train(loss_name, penalty, args.lam, data, args.epochs, args.seed)
            results[(loss_name, penalty)] = (acc, sparsity)
            print(f"{loss_name:<9}{penalty:<9}{acc:9.4f}{sparsity:14.3f}")
    return results


if __name__ == "__main__":
    main()
