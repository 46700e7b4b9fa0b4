"""Process-wide thread count for the compiled kernels (and NumPy's BLAS, via threadpoolctl).

The setting is process-global (not per thread), like ``torch.set_num_threads``. The choice of
kernel tier lives with the tiers, in :mod:`nnx.kernels`; this module imports nothing of nnx's
but ``_validation``, so every other module may import it.
"""
import os
import warnings

from ._validation import check_positive_int

_state = {"n_threads": None}
MAX_THREADS = 1024  # OpenMP allocates per-thread state up front: 10**9 threads end the process


def _check_threads(n, name):
    n = check_positive_int(n, name)
    if n > MAX_THREADS:
        raise ValueError(f"{name}: expected at most {MAX_THREADS} threads, got {n}")
    return n


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Threads used by the compiled kernels and by NumPy's BLAS (default: usable CPUs)."""
    if _state["n_threads"] is None:
        _state["n_threads"] = _usable_cpus()
    return _state["n_threads"]


def set_num_threads(n):
    """Set the threads for the compiled kernels and, through threadpoolctl, NumPy's BLAS.

    Raises
    ------
    TypeError, ValueError
        When ``n`` is not an integer in 1..1024; a ``RuntimeWarning`` above the usable CPUs.
    """
    n = _check_threads(n, "n")
    if n > _usable_cpus():
        warnings.warn(f"nnx.set_num_threads({n}): more threads than the {_usable_cpus()} usable CPUs; "
                      "they will take turns on the cores and run slower", RuntimeWarning, stacklevel=2)
    _state["n_threads"] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl is a dependency, but never fail a thread setting on it
        return
    threadpool_limits(limits=n, user_api="blas")


def resolve_threads(n_threads):
    """The one place a kernel's ``n_threads`` argument is turned into a count.

    ``None`` means the global setting; ``0``, negatives and non-integers raise.
    """
    return get_num_threads() if n_threads is None else _check_threads(n_threads, "n_threads")
