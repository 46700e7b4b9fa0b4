"""Kernel tiers: one API, three implementations.

``get_backend(name)`` returns the namespace of one tier:

- ``"loops"``      -- pure Python loops (:mod:`nnx.kernels.loops`), the reference, tiny inputs;
- ``"vectorized"`` -- NumPy expressions (:mod:`nnx.kernels.vectorized`);
- ``"cython"``     -- typed Cython, ``nogil`` + ``prange`` (:mod:`nnx.kernels.compiled`).

Every tier has the same functions with the same signatures; keyword-only ``n_threads=None``
comes last (``None``: ``nnx.get_num_threads()``; ignored by loops and vectorized).

Layouts, written down once:

- ``gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, bias=None, relu=False)``:
  ``a`` is (M, K) or (K, M) with ``trans_a``, ``b`` is (K, N) or (N, K) with ``trans_b``;
  returns ``out`` (M, N) = op(a) op(b) + beta out [+ bias (N,) per row] [ReLU].
- ``conv2d_forward(x, w, b, stride, pad, *, relu=False)``: ReLU fused into the output pass.
- ``relu_forward(x)`` -> ``(y, mask)``: any shape; ``mask`` is a bool array of x's shape.
  ``relu_backward(dy, mask)`` -> ``dx`` of dy's shape.
- ``softmax(x)``, ``log_softmax(x)``: ``x`` is (N, C), normalised over each row.
- ``softmax_cross_entropy(logits, labels)`` -> ``(loss, dlogits)``: logits (N, C), labels (N,)
  integers in [0, C); ``loss`` is a Python float (mean over rows), ``dlogits`` is (N, C).

All tiers accept float32 and float64 (never mixed), return the input dtype, never modify their
inputs, and make strided or Fortran-ordered input C-contiguous once.
"""
import importlib

from .._config import BACKENDS

__all__ = ["get_backend", "compiled_available", "BACKENDS"]

_TIER_MODULES = {"loops": "loops", "vectorized": "vectorized", "cython": "compiled"}


def compiled_available():
    """True when the Cython extension modules import."""
    try:
        get_backend("cython")
    except ImportError:
        return False
    return True


def get_backend(name):
    """Return the namespace (module) of kernel tier ``name``.

    Raises
    ------
    ValueError
        For an unknown tier name.
    ImportError
        For ``"cython"`` when the compiled extension is not built.
    """
    from .._config import _check_backend_name

    _check_backend_name(name)
    try:
        return importlib.import_module(f".{_TIER_MODULES[name]}", __name__)
    except ImportError as exc:
        raise ImportError(
            f"nnx: the '{name}' kernel tier is not built ({exc}). Build the Cython extension "
            "from the source tree with `pip install -e .` (needs a C compiler), or run "
            "`make install`; meanwhile use nnx.set_backend('vectorized')."
        ) from exc
