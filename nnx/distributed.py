"""Data-parallel training over MPI (needs ``pip install 'nnx[mpi]'``: mpi4py and Open MPI).

``init()`` gives ``(rank, world_size)``: MPI's world when the process runs under ``mpiexec``
with mpi4py installed, else a world of one. ``fit(..., distributed=True)`` then trains the same
model on every rank: parameters and buffers are broadcast from rank 0 at the start (a rank whose
model differs fails there, naming itself); every rank draws the same permutation each epoch and
takes its contiguous share of every global batch (``batch_size`` per rank, so a global batch is
``batch_size x world_size``; the last, partial one is split the same way on every rank, a rank
with no samples still joining the reduction); after each explicit backward the gradients are
summed over the ranks with one ``Allreduce`` on a flat buffer, each rank's weighted by its share
of the global batch, so the step is the single-process step on the global batch; loss and
accuracy are summed over the ranks; the progress line, checkpoints and logs are rank 0's.
BatchNorm keeps per-rank statistics, as torch's DistributedDataParallel does by default.

Run as root, Open MPI's ``mpiexec`` needs ``OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1``.
"""
import contextlib
import sys
import traceback

import numpy as np

_state = {"comm": None}


def init():
    """``(rank, world_size)`` of this process; ``(0, 1)`` without MPI."""
    if _state["comm"] is None:
        try:
            from mpi4py import MPI
        except ImportError:
            return 0, 1
        _state["comm"] = MPI.COMM_WORLD
    comm = _state["comm"]
    return comm.Get_rank(), comm.Get_size()


def _comm():
    init()
    if _state["comm"] is None:
        raise ImportError("distributed training needs mpi4py and an MPI: pip install 'nnx[mpi]', then run "
                          "under mpiexec")
    return _state["comm"]


class DataParallel:
    """The per-rank side of ``fit(distributed=True)``: broadcast, gradient and metric sums."""

    def __init__(self, model):
        from mpi4py import MPI
        self.comm, self.MPI = _comm(), MPI
        self.rank, self.world = self.comm.Get_rank(), self.comm.Get_size()
        self.params = list(model.parameters())
        state = model._state_targets()  # the live arrays: parameters' data and buffers
        layout = [(name, tuple(np.shape(v)), np.asarray(v).dtype.str) for name, v in state.items()]
        layouts = self.comm.allgather(layout)
        for r, other in enumerate(layouts):
            if other != layouts[0]:
                diff = next((a, b) for a, b in zip(layouts[0] + [None], other + [None], strict=False) if a != b)
                raise ValueError(f"nnx.distributed: rank {r}'s model differs from rank 0's: {diff[1]} vs {diff[0]}")
        for value in state.values():
            self.comm.Bcast(value, root=0)
        dtype = self.params[0].data.dtype if self.params else np.float64
        self.flat = np.zeros(sum(p.data.size for p in self.params), dtype)

    def shard(self, n):
        """The slice of a global batch of ``n`` samples this rank trains on."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def reduce_gradients(self, weight):
        """grad := sum over ranks of weight_r * grad_r (weight = this rank's share of the batch)."""
        o = 0
        for p in self.params:
            np.multiply(p.grad.reshape(-1), weight, out=self.flat[o:o + p.data.size])
            o += p.data.size
        self.comm.Allreduce(self.MPI.IN_PLACE, self.flat, op=self.MPI.SUM)
        o = 0
        for p in self.params:
            p.grad.reshape(-1)[...] = self.flat[o:o + p.data.size]
            o += p.data.size

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
