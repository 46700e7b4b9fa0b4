"""Kernel tiers: one API (:mod:`nnx.kernels.contract`), three implementations.

``get_backend(name)`` returns the namespace (module) of one tier:

- ``"loops"``      -- pure Python loops (:mod:`nnx.kernels.loops`), the reference, tiny inputs;
- ``"vectorized"`` -- NumPy expressions (:mod:`nnx.kernels.vectorized`);
- ``"cython"``     -- typed Cython, ``nogil`` + ``prange`` (:mod:`nnx.kernels.compiled`).

The tier the Module layer calls (``current()``) is, most specific first: ``set_backend(name)``
or an active ``use_backend(name)`` block > the ``NNX_BACKEND`` environment variable >
``"cython"`` when the extension is built > ``"vectorized"`` (with one warning).
"""
import contextlib
import importlib
import os
import warnings

from ._args import pair
from .contract import KERNELS

__all__ = ["BACKENDS", "KERNELS", "compiled_available", "current", "get_backend", "get_backend_name", "pair",
           "set_backend", "use_backend"]

#: The kernel tiers, slowest first: pure-Python loops, NumPy, compiled Cython (``set_backend``).
BACKENDS = ("loops", "vectorized", "cython")
_TIER_MODULES = {"loops": "loops", "vectorized": "vectorized", "cython": "compiled"}
_state = {"name": None, "tier": None, "fallback_warned": False}


def _check_name(name):
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    return name


def get_backend(name):
    """Return the namespace (module) of kernel tier ``name``.

    Raises
    ------
    ValueError
        For an unknown tier name.
    ImportError
        For ``"cython"`` when the compiled extension is not built.
    """
    _check_name(name)
    try:
        return importlib.import_module(f".{_TIER_MODULES[name]}", __name__)
    except ImportError as exc:
        raise ImportError(
            f"nnx: the '{name}' kernel tier is not built ({exc}). Build the Cython extension "
            "from the source tree with `pip install -e .` (needs a C compiler), or run "
            "`make install`; meanwhile use nnx.set_backend('vectorized')."
        ) from exc


def compiled_available():
    """True when the Cython extension modules import."""
    try:
        get_backend("cython")
    except ImportError:
        return False
    return True


def _default_name():
    env = os.environ.get("NNX_BACKEND", "").strip()
    if env and (_check_name(env) != "cython" or compiled_available()):
        return env
    if compiled_available():
        return "cython"
    if not _state["fallback_warned"]:
        _state["fallback_warned"] = True
        warnings.warn(
            "nnx: the compiled kernels are not built, so nnx falls back to the 'vectorized' "
            "(NumPy) tier. Build them with `pip install -e .` (or `make install`) and a C compiler.",
            RuntimeWarning,
            stacklevel=4,
        )
    return "vectorized"


def get_backend_name():
    """The name of the kernel tier the Module layer uses now."""
    if _state["name"] is None:
        set_backend(_default_name())
    return _state["name"]


def current():
    """The namespace of the current tier (what layers call on every forward and backward)."""
    return _state["tier"] or get_backend(get_backend_name())


def set_backend(name):
    """Choose the kernel tier (``"loops"``, ``"vectorized"`` or ``"cython"``) for all modules.

    Raises
    ------
    ValueError
        For an unknown name.
    ImportError
        For ``"cython"`` when the extension is not built.
    """
    tier = get_backend(name)  # validates; ImportError with build instructions if unavailable
    _state["name"], _state["tier"] = name, tier


@contextlib.contextmanager
def use_backend(name):
    """Context manager: run the block with tier ``name``, then restore the previous one."""
    previous = get_backend_name()
    set_backend(name)
    try:
        yield name
    finally:
        set_backend(previous)
