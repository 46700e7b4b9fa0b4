"""Data-parallel training over MPI: every rank trains the same LeNet-5 on its share of each batch.

The lesson: data parallelism is the single-process step on a bigger batch, split across
processes; only the gradient sum crosses them. Run it under MPI (pip install 'nnx[mpi]'):

    mpiexec -n 2 python examples/distributed_mnist.py

(10 epochs of SGD with Nesterov momentum and a cosine schedule: 99.23% on MNIST, measured; as the
command-line `train --distributed` run in docs/distributed.md)

(as root, Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). Uses MNIST
through NNX_DATA_DIR, or the 8x8 digits with --data digits. Run with --help for the options.
"""
import argparse
import sys

import nnx


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=["mnist", "digits"], default="mnist", help="data set (default mnist)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="samples per rank and step (default 64)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    p.add_argument("--save", metavar="PATH", default=None, help="rank 0 saves the trained model here")
    args = p.parse_args(argv)
    rank, world = nnx.distributed.init()
    if args.data == "digits":
        X, y, Xt, yt = nnx.datasets.load_digits()
    else:
        try:
            X, y, Xt, yt = nnx.datasets.load_mnist()
        except FileNotFoundError as exc:
            raise SystemExit(f"distributed_mnist.py: error: {exc}") from None
    # the first layer standardises raw pixels: the saved model takes them as they are
    model = nnx.Sequential(nnx.Normalize(float(X.mean()), float(X.std())), *nnx.models.lenet5(X.shape[1:], rng=0))
    opt = nnx.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    schedule = nnx.optim.CosineAnnealingLR(opt, T_max=args.epochs)
    history = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=args.epochs, batch_size=args.batch_size,
                      val_data=(Xt, yt), schedule=schedule, seed=0, progress=rank == 0, distributed=True)
    if rank == 0:
        print(f"{world} ranks, global batch {args.batch_size * world}: test accuracy "
              f"{history['val_accuracy'][-1]:.4f}")
        if args.save:
            nnx.save(model, args.save, metadata=nnx.io.input_metadata(X.shape[1:]))
            print(f"saved {args.save}")
    return history

if __name__ == "__main__":
    main(sys.argv[1:])
