"""Data-parallel training over MPI (needs ``pip install 'nnx[mpi]'``: mpi4py and Open MPI).

``init()`` gives ``(rank, world_size)``: MPI's world when the process runs under ``mpiexec``
with mpi4py installed, else a world of one. ``fit(..., distributed=True)`` then trains the same
model on every rank: parameters and buffers are broadcast from rank 0 at the start (a rank whose
model differs fails there, naming itself); every rank draws the same permutation each epoch and
takes its contiguous share of every global batch (``batch_size`` per rank, so a global batch is
``batch_size x world_size``; the last, partial one is split the same way on every rank, a rank
with no samples still joining the reduction); during each explicit backward the gradients are
summed over the ranks in buckets of one flat buffer, each ``Iallreduce`` started as soon as its
layers' backward is done (the last layers first), each rank's weighted by its share of the global
batch, so the step is the single-process step on the global batch; loss and
accuracy are summed over the ranks; the progress line, checkpoints and logs are rank 0's.
BatchNorm keeps per-rank statistics, as torch's DistributedDataParallel does by default.

Run as root, Open MPI's ``mpiexec`` needs ``OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1``.
"""
import contextlib
import os
import sys
import time
import traceback
import zlib

import numpy as np

from .module import Sequential, call_backward
from .train.loop import LocalStep

_state = {"comm": None}


def init():
    """``(rank, world_size)`` of this process; ``(0, 1)`` without MPI.

    From here on, with several ranks, an exception no one catches on any rank ends the whole job
    (``MPI_Abort``) after saying which rank failed and why: the other ranks would otherwise wait
    for it in their next collective call for ever.
    """
    if _state["comm"] is None:
        try:
            from mpi4py import MPI
        except ImportError:
            return 0, 1
        _state["comm"] = MPI.COMM_WORLD
        if MPI.COMM_WORLD.Get_size() > 1:
            _abort_on_uncaught(MPI.COMM_WORLD)
    comm = _state["comm"]
    return comm.Get_rank(), comm.Get_size()


def _abort_on_uncaught(comm):
    previous = sys.excepthook

    def hook(kind, exc, tb):
        previous(kind, exc, tb)
        abort(f"{kind.__name__}: {exc}")

    sys.excepthook = hook


def abort(reason, code=1):
    """End every rank of the job (``MPI_Abort``) after saying that this rank failed and why; a
    no-op in a single process. The command line calls it for an error it reports on one rank."""
    comm = _state["comm"]
    if comm is None or comm.Get_size() == 1:
        return
    sys.stderr.write(f"nnx.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed ({reason}); stopping "
                     "every rank\n")
    sys.stderr.flush()
    comm.Abort(code)


@contextlib.contextmanager
def agreed(what):
    """Run a block on every rank, then make its failure on any rank a failure on every rank: the
    rank that raised raises its own exception, the others a ``RuntimeError`` naming it. Used for
    the checks before the first collective of a run, so that no rank goes on alone."""
    comm = require_mpi(what)
    error = None
    try:
        yield
    except Exception as exc:
        error = exc
    errors = comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(r, e) for r, e in enumerate(errors) if e is not None]
    if failed:
        r, e = failed[0]
        raise RuntimeError(f"{what}: rank {r} of {comm.Get_size()} failed ({e}); every rank stops")


def describe_data(x, y):
    """``(samples, sample shape, dtype, label dtype, fingerprint)`` of ``(x, y)``: the fingerprint
    is a CRC of 64 rows spread over x and of all of y, cheap next to an epoch."""
    n = len(x)
    rows = np.ascontiguousarray(x[np.linspace(0, n - 1, min(n, 64)).astype(np.int64)]) if n else x
    crc = zlib.crc32(np.ascontiguousarray(np.asarray(y)).tobytes(), zlib.crc32(rows.tobytes()))
    return n, tuple(x.shape[1:]), str(x.dtype), str(np.asarray(y).dtype), crc


def require_mpi(what="fit(distributed=True)"):
    """The MPI communicator; ``ImportError`` saying how to get one when mpi4py is missing."""
    init()
    if _state["comm"] is None:
        raise ImportError(f"{what}: distributed training needs mpi4py and an MPI: pip install 'nnx[mpi]', then run "
                          "under mpiexec -n N")
    return _state["comm"]


#: Variables the MPI launchers set to the number of processes they started (Open MPI, MPICH and
#: Intel MPI, PMIx); not SLURM_NTASKS, which counts tasks that need not be MPI ranks.
_WORLD_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")


def ranks_in_environment():
    """``(variable, N)`` when a launcher's environment says this process is one of N > 1 ranks,
    else None (read from the environment only: MPI is not initialised)."""
    for var in _WORLD_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return var, int(value)
    return None


class DataParallel:
    """The per-rank side of ``fit(distributed=True)``: broadcast, gradient and metric sums."""

    def __init__(self, model):
        comm = require_mpi()  # the install message before mpi4py's own ImportError
        from mpi4py import MPI
        self.comm, self.MPI = comm, MPI
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        state = model.state_arrays()  # the live arrays: parameters' data and buffers
        layout = [(name, tuple(np.shape(v)), np.asarray(v).dtype.str) for name, v in state.items()]
        layouts = self.comm.allgather(layout)
        for r, other in enumerate(layouts):
            if other != layouts[0]:
                diff = next((a, b) for a, b in zip(layouts[0] + [None], other + [None], strict=False) if a != b)
                raise ValueError(f"nnx.distributed: rank {r}'s model differs from rank 0's: {diff[1]} vs {diff[0]}")
        for value in state.values():
            self.comm.Bcast(value, root=0)
        # Buckets: the layers of a Sequential from the last to the first (the order backward
        # finishes them), cut every BUCKET values; each is a contiguous part of one flat buffer,
        # summed over the ranks (Iallreduce) as soon as its layers' gradients are final.
        self.sequential = type(model) is Sequential  # a subclass may override backward
        layers = list(model) if self.sequential else [model]
        self.layers, self.slots, self.buckets, o, start = layers, {}, [], 0, 0
        for layer in reversed(layers):
            params = list(layer.parameters())
            if not params:
                continue
            self.slots[id(layer)] = []
            for p in params:
                self.slots[id(layer)].append((p, slice(o, o + p.data.size)))
                o += p.data.size
            if o - start >= self.BUCKET:
                self.buckets.append((start, o, id(layer)))
                start = o
        if o > start:
            self.buckets.append((start, o, next(reversed(self.slots))))
        self.bucket_end = {last: (a, b) for a, b, last in self.buckets}
        dtype = next((p.data.dtype for p in model.parameters()), np.float64)
        self.flat = np.zeros(o, dtype)
        self._bind_grads()
        self.weight, self.requests = 1.0, []
        self.wait_seconds = 0.0  # time spent waiting for the sums: the exposed communication

    def shard(self, n):
        """The slice of a global batch of ``n`` samples this rank trains on."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    BUCKET = 1 << 18  # values per reduction (1 MB of float32): large enough to amortise a call

    def backward(self, model, grad, weight):
        """``model``'s backward (``grad=None``: this rank has no samples, its gradients are zero),
        each bucket's sum over the ranks started as soon as its layers are done, then waited
        for: every gradient becomes sum over ranks of weight_r * grad_r (weight = this rank's
        share of the global batch), the single-process gradient of the global batch."""
        self.weight, self.requests = weight, []
        self._bind_grads()
        if self.sequential:  # each layer's bucket goes as soon as the layer's backward is done
            model.backward(grad, input_grad=False, after_layer=self._done)
        else:
            if grad is not None:
                call_backward(model, grad, False)
            self._done(model)
        t = time.perf_counter()
        self.MPI.Request.Waitall(self.requests)
        self.wait_seconds += time.perf_counter() - t

    def _bind_grads(self):
        """Make every parameter's gradient a view of its part of the flat buffer, so the layers'
        backward writes straight into what is summed (no copy in, no copy out); again if
        something replaced a gradient array since."""
        for slots in self.slots.values():
            for p, part in slots:
                if not p.grad_in(self.flat):
                    p.bind_grad(self.flat[part].reshape(p.data.shape))

    def _done(self, layer):
        for p, _ in self.slots.get(id(layer), ()):
            g = p.grad  # real zeros if this rank had no samples (zero_grad is lazy)
            if self.weight != 1.0:
                np.multiply(g, self.weight, out=g)
        if id(layer) in self.bucket_end:
            a, b = self.bucket_end[id(layer)]
            self.requests.append(self.comm.Iallreduce(self.MPI.IN_PLACE, self.flat[a:b], op=self.MPI.SUM))

    def sum(self, *values):
        """The sums over ranks of a few numbers (loss sums, counts)."""
        buf = np.array(values, np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return buf

    @contextlib.contextmanager
    def stop_all_on_failure(self):
        """An exception on one rank ends the whole job (``Abort``), after saying which rank failed
        and why: the others would otherwise wait in the next reduction for ever."""
        try:
            yield
        except Exception as exc:
            if self.world > 1:
                traceback.print_exc()
                sys.stderr.write(f"nnx.distributed: rank {self.rank} of {self.world} failed ({type(exc).__name__}: "
                                 f"{exc}); stopping every rank\n")
                sys.stderr.flush()
                self.comm.Abort(1)
            raise


class DataParallelStep(LocalStep):
    """``fit(distributed=True)``'s step: this rank's share of each global batch, its gradients summed
    over the ranks during the backward (``DataParallel``), the loss and accuracy of the global batch.
    Creating it broadcasts rank 0's parameters and buffers."""

    def __init__(self, model, loss, optimizer):
        super().__init__(model, loss, optimizer)
        self.dp = DataParallel(model)
        self.rank, self.world = self.dp.rank, self.dp.world

    def shared_seed(self, seed):
        return self.dp.comm.bcast(seed, root=0)  # one permutation on every rank

    def agree_on_data(self, train_data):
        """Every rank must hold the same ``(X, y)`` (each trains on its share of every global batch):
        refused on every rank, naming the ones that differ, before the first step."""
        mine = describe_data(*train_data)
        every = self.dp.comm.allgather(mine)
        if any(d != every[0] for d in every):
            what = "; ".join(f"rank {r}: {d[0]} samples of shape {d[1]} {d[2]}, labels {d[3]}, fingerprint {d[4]:08x}"
                             for r, d in enumerate(every))
            raise ValueError(f"fit(distributed=True): train_data differs between the ranks ({what}); every rank "
                             "must hold the same (X, y): each trains on its share of every global batch")

    def guard(self):
        return self.dp.stop_all_on_failure()

    def step(self, xb, yb):
        """One step on this rank's share of the global batch ``(xb, yb)``; the global batch's
        ``(mean loss, samples, correctly classified)``, the same on every rank."""
        model, loss, opt, dp = self.model, self.loss, self.optimizer, self.dp
        n_global = xb.shape[0]
        share = dp.shard(n_global)
        xb, yb = xb[share], yb[share]
        n = xb.shape[0]
        opt.zero_grad()
        local, good, grad = 0.0, 0, None
        if n:
            out = model.forward(xb)
            local = loss.forward(out, yb)
            grad = loss.backward()
            good = self._correct(out, yb)
        dp.backward(model, grad, n / n_global)  # gradients summed over ranks bucket by bucket, during backward
        opt.step()
        total, count, correct, flag = dp.sum(local * n, n, good, 1.0 if self.classify else 0.0)
        self.classify = bool(flag)
        return total / count, int(count), int(correct)


__all__ = ["DataParallelStep", "abort", "agreed", "describe_data", "init", "ranks_in_environment", "require_mpi"]
