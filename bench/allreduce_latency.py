"""MPI Allreduce latency and bandwidth between the ranks of this machine (docs/distributed.md):

    mpiexec -n 2 python bench/allreduce_latency.py                       # shared memory
    mpiexec -n 2 --mca btl tcp,self python bench/allreduce_latency.py    # TCP loopback

(as root add OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). Prints the mean time per
float32 Allreduce from 4 bytes to 16 MB; alpha is the small-message time, the bandwidth the
large-message bytes / time.
"""
import time

import numpy as np
from mpi4py import MPI

c = MPI.COMM_WORLD
res = []
for n in [1, 16, 256, 4096, 65536, 262144, 1048576, 4194304]:  # float32 elements
    a = np.ones(n, np.float32)
    for _ in range(5):
        c.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
    reps = max(5, min(2000, int(2e8 / (n * 4 + 1000))))
    c.Barrier()
    t = time.perf_counter()
    for _ in range(reps):
        c.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
    res.append((n * 4, (time.perf_counter() - t) / reps))
if c.rank == 0:
    for b, dt in res:
        print(f"{b:>9} B {dt * 1e6:10.1f} us")
    print(f"alpha ~{res[0][1] * 1e6:.1f} us, bandwidth ~{res[-1][0] / res[-1][1] / 1e9:.2f} GB/s")
