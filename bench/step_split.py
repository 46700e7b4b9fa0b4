"""One data-parallel step split into compute, exposed communication and overlap (docs/distributed.md):

    mpiexec -n 2 python bench/step_split.py [--threads 1]

(as root add OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). For LeNet-5 and the MLP
784-512-256-10 on random MNIST-shaped batches (global batch 128, 64 per rank), rank 0 prints per
step: the whole step, the time spent waiting for the gradient sums (the exposed communication),
the rest (compute), the same buckets summed alone with blocking Allreduce (the communication if
nothing overlapped it), and overlap = communication alone - exposed.
"""
import argparse
import statistics
import time

import numpy as np
from mpi4py import MPI

import nnx
from nnx.distributed import DataParallel


def split(name, model, steps, batch=128):
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * 8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch * 8)
    loss, opt = nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dp = DataParallel(model)
    share = dp.shard(batch)
    rows = []
    for s in range(steps + 3):
        b = (s % 8) * batch
        xb, yb = X[b:b + batch][share], y[b:b + batch][share]
        comm.Barrier()
        dp.wait_seconds = 0.0
        t = time.perf_counter()
        opt.zero_grad()
        out = model.forward(xb)
        loss.forward(out, yb)
        dp.backward(model, loss.backward(), xb.shape[0] / batch)
        opt.step()
        if s >= 3:  # the first steps warm caches and buffers
            rows.append((time.perf_counter() - t, dp.wait_seconds))
    alone = []
    for _ in range(steps):
        comm.Barrier()
        t = time.perf_counter()
        for a, b, _last in dp.buckets:
            comm.Allreduce(MPI.IN_PLACE, dp.flat[a:b], op=MPI.SUM)
        alone.append(time.perf_counter() - t)
    step = statistics.median(r[0] for r in rows)
    exposed = statistics.median(r[1] for r in rows)
    comm_alone = statistics.median(alone)
    if comm.rank == 0:
        print(f"{name:8s} {dp.flat.nbytes / 1e6:5.2f} MB in {len(dp.buckets)} buckets: step {step * 1e3:6.2f} ms = "
              f"compute {(step - exposed) * 1e3:6.2f} + exposed comm {exposed * 1e3:5.2f} ms; comm alone "
              f"{comm_alone * 1e3:5.2f} ms, overlapped {max(comm_alone - exposed, 0) * 1e3:5.2f} ms "
              f"({max(comm_alone - exposed, 0) / comm_alone:.0%})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads per rank (default 1)")
    p.add_argument("--steps", type=int, default=200, help="timed steps per model (default 200)")
    args = p.parse_args()
    nnx.set_num_threads(args.threads)
    split("lenet5", nnx.models.lenet5(rng=0), args.steps)
    split("mlp", nnx.models.mlp(hidden=(512, 256), rng=0), args.steps)


if __name__ == "__main__":
    main()
