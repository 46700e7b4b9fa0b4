"""Process-wide settings: thread count and the kernel tier the Module layer calls.

Backend resolution, most specific first: ``set_backend(name)`` or an active
``use_backend(name)`` block (the innermost one wins while it is open) > the ``NNX_BACKEND``
environment variable read at import > ``"cython"`` when the extension is built > ``"vectorized"``.
The settings are process-global (not per thread), like ``torch.set_num_threads``.
"""
import contextlib
import os
import warnings

BACKENDS = ("loops", "vectorized", "cython")

_state = {"backend": None, "n_threads": None, "fallback_warned": False}


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _check_backend_name(name):
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    return name


def _default_backend():
    env = os.environ.get("NNX_BACKEND", "").strip()
    if env:
        name = _check_backend_name(env)
        if name != "cython" or _compiled_available():
            return name
    if _compiled_available():
        return "cython"
    if not _state["fallback_warned"]:
        _state["fallback_warned"] = True
        warnings.warn(
            "nnx: the compiled kernels are not built, so nnx falls back to the 'vectorized' "
            "(NumPy) tier. Build them with `pip install -e .` (or `make install`) and a C compiler.",
            RuntimeWarning,
            stacklevel=3,
        )
    return "vectorized"


def _compiled_available():
    from .kernels import compiled_available

    return compiled_available()


def get_backend():
    """Return the name of the kernel tier the Module layer uses now."""
    if _state["backend"] is None:
        _state["backend"] = _default_backend()
    return _state["backend"]


def set_backend(name):
    """Choose the kernel tier (``"loops"``, ``"vectorized"`` or ``"cython"``) for all modules.

    Raises
    ------
    ValueError
        For an unknown name.
    ImportError
        For ``"cython"`` when the extension is not built.
    """
    from .kernels import get_backend as _kernels

    _check_backend_name(name)
    _kernels(name)  # raises ImportError with build instructions if unavailable
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name):
    """Context manager: run the block with tier ``name``, then restore the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield name
    finally:
        _state["backend"] = previous


_tier_cache = {}


def kernels():
    """The namespace of the current tier (what layers call on every forward/backward)."""
    name = get_backend()
    tier = _tier_cache.get(name)
    if tier is None:
        from .kernels import get_backend as _kernels

        tier = _tier_cache[name] = _kernels(name)
    return tier


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
    from ._validation import check_positive_int

    n = check_positive_int(n, "n")
    _state["n_threads"] = n
    _limit_blas(n)


def _limit_blas(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl is a dependency, but never fail a thread setting on it
        return
    threadpool_limits(limits=n, user_api="blas")


def resolve_threads(n_threads):
    """The one place a kernel's ``n_threads`` argument is turned into a count.

    ``None`` means the global setting; ``0``, negatives and non-integers raise.
    """
    if n_threads is None:
        return get_num_threads()
    from ._validation import check_positive_int

    return check_positive_int(n_threads, "n_threads")
