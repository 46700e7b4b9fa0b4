"""nnx: a small, fast, honest neural-network library for the CPU.

Every layer has an explicit ``forward`` and ``backward``; every hot kernel exists as pure-Python
loops, NumPy and typed Cython with one API (``nnx.kernels``). The core (modules, layers, losses,
optimizers, kernels) is importable on its own; the application layer lives in ``nnx.train``
(fit, callbacks, metrics, plots, summary, models) and ``nnx.io`` (checkpoints, PNG, IDX). See
ARCHITECTURE.md for the map and README.md for a tour. Importing nnx changes nothing in the
process (no allocator or thread-pool settings); ``fit`` and the CLI tune malloc, see
:func:`nnx.tune_malloc`.
"""
import sys as _sys

from . import datasets, init, io, kernels, optim, precision, regularization, train  # noqa: E402
from ._config import get_num_threads, set_num_threads  # noqa: E402
from ._info import show_config  # noqa: E402
from ._malloc import tune as tune_malloc  # noqa: E402
from ._version import __version__  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .graph import Add, Graph  # noqa: E402
from .io import load, load_header, save  # noqa: E402
from .kernels import get_backend_name, set_backend, use_backend  # noqa: E402
from .kernels.cpu import cpu_level, cpu_levels  # noqa: E402
from .layers import (  # noqa: E402
    ELU,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    Maxout,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from .losses import BCEWithLogitsLoss, HingeLoss, Loss, MSELoss, SoftmaxCrossEntropy  # noqa: E402
from .module import Module, Parameter, Sequential, StateDictError  # noqa: E402
from .precision import autocast  # noqa: E402
from .train import History, Trainer, callbacks, evaluate, fit, metrics, models, plot, predict, summary  # noqa: E402

# The application modules kept their old import paths (``import nnx.callbacks``,
# ``from nnx.metrics import accuracy``, ``nnx.serialization.save``).
for _old, _new in (("callbacks", callbacks), ("metrics", metrics), ("models", models), ("plot", plot),
                   ("serialization", io.checkpoint)):
    _sys.modules[f"{__name__}.{_old}"] = _new
serialization = io.checkpoint
cpu_level()  # the CPU level is decided now: a bad NNX_CPU_LEVEL stops `import nnx`, naming it

__all__ = [
    "__version__", "datasets", "init", "io", "kernels", "optim",
    "get_backend", "get_backend_name", "set_backend", "use_backend", "get_num_threads", "set_num_threads",
    "show_config", "tune_malloc", "gradcheck", "GradcheckError", "cpu_level", "cpu_levels",
    "Module", "Parameter", "Sequential", "StateDictError",
    "Linear", "ReLU", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Loss", "SoftmaxCrossEntropy",
    "MSELoss", "HingeLoss", "BCEWithLogitsLoss", "regularization",
    "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Dropout", "BatchNorm1d", "BatchNorm2d", "Maxout",
    "Graph", "Add", "summary", "save", "load", "load_header", "autocast", "precision",
    "callbacks", "metrics", "models", "plot", "train", "fit", "evaluate", "predict", "Trainer", "History",
]


def get_backend():
    """Deprecated alias of :func:`get_backend_name` (kept for one release)."""
    import warnings

    warnings.warn("nnx.get_backend() is deprecated: use nnx.get_backend_name() for the tier's name "
                  "(nnx.kernels.get_backend(name) returns a tier's module)", DeprecationWarning, stacklevel=2)
    return get_backend_name()


def __getattr__(name):
    """``nnx.onnx``, ``nnx.sklearn`` and ``nnx.distributed`` load on first use: their libraries are
    optional extras (``pip install 'nnx[onnx]'`` / ``'nnx[sklearn]'`` / ``'nnx[mpi]'``), never
    imported by ``import nnx``."""
    if name in ("onnx", "sklearn", "distributed"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'nnx' has no attribute {name!r}")
