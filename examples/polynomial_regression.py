"""Fit y = w2 x^2 + w1 x + w0 with full-batch gradient descent, SGD and mini-batch SGD.

The lesson: the same model and loss, three ways of estimating the gradient. A Linear layer on
the features (x^2, x) with its bias as w0, MSELoss, and nnx.optim.SGD. Prints the learned
coefficients next to the true ones. Run with --help for the options.
"""
import argparse

import numpy as np

import nnx

TRUE = (0.5, -1.5, 2.0)  # w2, w1, w0


def make_data(n, noise, rng):
    x = rng.uniform(-2, 2, n)
    y = TRUE[0] * x ** 2 + TRUE[1] * x + TRUE[2] + noise * rng.standard_normal(n)
    return np.stack([x ** 2, x], axis=1), y[:, None]


def fit(features, targets, batch_size, epochs, lr, seed):
    model = nnx.Linear(2, 1, dtype=np.float64, rng=seed)
    crit = nnx.MSELoss()
    opt = nnx.optim.SGD(model.parameters(), lr=lr)
    loader = nnx.datasets.DataLoader(features, targets, batch_size=batch_size, rng=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            crit(model(xb), yb)
            model.backward(crit.backward())
            opt.step()
    loss = nnx.MSELoss()(model.eval()(features), targets)
    w2, w1 = model.weight.data[0]
    return (float(w2), float(w1), float(model.bias.data[0])), loss


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=512, help="number of points (default 512)")
    p.add_argument("--noise", type=float, default=0.1, help="noise std (default 0.1)")
    p.add_argument("--epochs", type=int, default=200,
                   help="mini-batch passes over the data (default 200); full-batch GD runs 4x as many steps, "
                        "batch-1 SGD 1/20 as many passes")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    features, targets = make_data(args.n, args.noise, rng)
    print(f"true       : w2={TRUE[0]:+.4f}  w1={TRUE[1]:+.4f}  w0={TRUE[2]:+.4f}")
    results = {}
    for name, batch, lr, epochs in (("full-batch GD", args.n, 0.1, args.epochs * 4),
                                    ("SGD (batch 1)", 1, 0.005, max(1, args.epochs // 20)),
                                    ("mini-batch 32", 32, 0.05, args.epochs)):
        (w2, w1, w0), loss = fit(features, targets, batch, epochs, lr, args.seed)
        results[name] = (w2, w1, w0)
        print(f"{name:<14}: w2={w2:+.4f}  w1={w1:+.4f}  w0={w0:+.4f}  (mse {loss:.4f}, {epochs} epochs)")
    return results


if __name__ == "__main__":
    main()
