"""SGD, momentum, Nesterov, Adagrad, RMSprop and Adam on the same MLP and data (the digits).

The lesson: same model, same initial weights, same batches -- only the update rule changes.
Prints a table of the training loss per epoch and the final test accuracy; with --plot PATH
and matplotlib installed it also draws the loss curves to a PNG. Run with --help.
"""
import argparse

import numpy as np

import nnx

OPTIMIZERS = {
    "SGD": lambda ps: nnx.optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: nnx.optim.SGD(ps, lr=0.05, momentum=0.9),
    "Nesterov": lambda ps: nnx.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda ps: nnx.optim.Adagrad(ps, lr=0.05),
    "RMSprop": lambda ps: nnx.optim.RMSprop(ps, lr=0.001),
    "Adam": lambda ps: nnx.optim.Adam(ps, lr=0.001),
}


def run(name, data, epochs, seed):
    X, y, Xt, yt = data
    model = nnx.Sequential(nnx.Linear(64, 64, rng=seed), nnx.ReLU(), nnx.Linear(64, 10, rng=seed + 1))
    opt, crit = OPTIMIZERS[name](model.parameters()), nnx.SoftmaxCrossEntropy()
    loader = nnx.datasets.DataLoader(X, y, batch_size=64, rng=seed)
    curve = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            total += crit(model(xb), yb) * len(xb)
            model.backward(crit.backward(), input_grad=False)
            opt.step()
        curve.append(total / len(X))
    acc = float((model.eval()(Xt).argmax(1) == yt).mean())
    return curve, acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="write the loss curves to this PNG (needs matplotlib)")
    args = p.parse_args(argv)
    X, y, Xt, yt = nnx.datasets.load_digits()
    data = (X.reshape(len(X), -1), y, Xt.reshape(len(Xt), -1), yt)
    results = {name: run(name, data, args.epochs, args.seed) for name in OPTIMIZERS}
    print("epoch " + "".join(f"{n:>10}" for n in results))
    for e in range(args.epochs):
        print(f"{e + 1:5d} " + "".join(f"{results[n][0][e]:10.4f}" for n in results))
    print("test  " + "".join(f"{results[n][1]:10.4f}" for n in results))
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed (pip install 'nnx[plot]'); no plot written")
        else:
            fig, ax = plt.subplots(figsize=(6, 4))
            for n, (curve, _) in results.items():
                ax.plot(np.arange(1, args.epochs + 1), curve, label=n)
            ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="optimizers on the digits MLP")
            ax.legend()
            fig.savefig(args.plot, dpi=100, bbox_inches="tight")
            print(f"wrote {args.plot}")
    return results


if __name__ == "__main__":
    main()
