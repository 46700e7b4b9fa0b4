"""One data-parallel step split into compute, exposed communication and overlap (docs/distributed.md):

    mpiexec -n 2 python bench/step_split.py [--threads 1]

(as root add OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). For LeNet-5 and the MLP
784-512-256-10 on random MNIST-shaped batches (global batch 128, 64 per rank), rank 0 prints the
median of: the data-parallel step; the same step with the gradient sums left out, timed on every
rank and the slowest taken (compute: a synchronous step waits for the slowest rank whatever the
network; same ranks, per-rank batch and contention for the cores); exposed communication = their
difference; the buckets summed alone with blocking Allreduce (the communication if nothing hid
it); overlap = communication alone - exposed, and the time DataParallel spent in Waitall. Steps
with and without communication alternate, so drifts in machine speed hit both alike.
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
    for s in range(2 * steps + 6):
        b = (s // 2 % 8) * batch
        xb, yb = X[b:b + batch][share], y[b:b + batch][share]
        comm.Barrier()
        dp.wait_seconds = 0.0
        t = time.perf_counter()
        opt.zero_grad()
        out = model.forward(xb)
        loss.forward(out, yb)
        if s % 2:
            model.backward(loss.backward(), input_grad=False)  # compute only: no sums
        else:
            dp.backward(model, loss.backward(), xb.shape[0] / batch)
        opt.step()
        dt = time.perf_counter() - t
        slowest = comm.allreduce(dt, op=MPI.MAX)  # after the clock stopped
        if s >= 6:  # the first steps warm caches and buffers
            rows.append((s % 2, dt, dp.wait_seconds, slowest))
    alone = []
    for _ in range(steps):
        comm.Barrier()
        t = time.perf_counter()
        for a, b, _last in dp.buckets:
            comm.Allreduce(MPI.IN_PLACE, dp.flat[a:b], op=MPI.SUM)
        alone.append(time.perf_counter() - t)
    step = statistics.median(r[1] for r in rows if r[0] == 0)
    own = statistics.median(r[1] for r in rows if r[0] == 1)
    compute = statistics.median(r[3] for r in rows if r[0] == 1)  # the slowest rank's, step by step
    waited = statistics.median(r[2] for r in rows if r[0] == 0)
    comm_alone = statistics.median(alone)
    exposed = step - compute
    hidden = max(comm_alone - exposed, 0.0)
    if comm.rank == 0:
        print(f"{name:8s} {dp.flat.nbytes / 1e6:5.2f} MB in {len(dp.buckets)} buckets: step {step * 1e3:6.2f} ms = "
              f"compute {compute * 1e3:6.2f} (slowest rank; rank 0 alone {own * 1e3:6.2f}) + exposed comm "
              f"{exposed * 1e3:5.2f} ms (in Waitall "
              f"{waited * 1e3:4.2f}); comm alone {comm_alone * 1e3:5.2f} ms, hidden by backward "
              f"{hidden * 1e3:5.2f} ms ({hidden / comm_alone:.0%})")


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
