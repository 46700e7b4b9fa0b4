"""Process-wide thread count for the compiled kernels (and NumPy's BLAS, via threadpoolctl).

The setting is process-global (not per thread), like ``torch.set_num_threads``. The choice of
kernel tier lives with the tiers, in :mod:`nnx.kernels`; this module imports nothing of nnx's
but ``_validation``, so every other module may import it.
"""
import os

from ._validation import check_positive_int

_state = {"n_threads": None}


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
        When ``n`` is not a positive integer.
    """
    n = check_positive_int(n, "n")
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
    return get_num_threads() if n_threads is None else check_positive_int(n_threads, "n_threads")
