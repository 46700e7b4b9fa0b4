"""nnx: a small, fast, honest neural-network library for the CPU.

Every layer has an explicit ``forward`` and ``backward``; every hot kernel exists as pure-Python
loops, NumPy and typed Cython with one API (``nnx.kernels``). ``import nnx`` loads the core:
kernels, modules, layers, losses, optimizers, autocast. The application side loads when first
touched: ``nnx.fit`` and the rest of ``nnx.train`` (fit, callbacks, metrics, plots, summary,
models), ``nnx.io`` (checkpoints, PNG, IDX; ``nnx.save``/``nnx.load``), ``nnx.datasets``, and the
optional extras ``nnx.onnx``, ``nnx.sklearn`` and ``nnx.distributed``. See ARCHITECTURE.md for the
map and README.md for a tour. Importing nnx changes nothing in the process (no allocator or
thread-pool settings; on a CPU with AMX, Linux is asked for the tile permission); ``fit`` and the
CLI tune malloc, see :func:`nnx.tune_malloc`.
"""
import importlib as _importlib

from . import init, kernels, optim, precision, regularization
from ._config import get_num_threads, set_num_threads
from ._info import show_config
from ._malloc import tune as tune_malloc
from ._version import __version__
from .gradcheck import GradcheckError, gradcheck
from .graph import Add, Concat, Div, Graph, Mul, Sub
from .kernels import get_backend_name, set_backend, use_backend
from .kernels.cpu import cpu_level, cpu_levels
from .layers import (
    ELU,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Clip,
    Conv2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Maxout,
    MaxPool2d,
    Normalize,
    Pad2d,
    Permute,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
)
from .losses import BCEWithLogitsLoss, HingeLoss, Loss, MSELoss, SoftmaxCrossEntropy
from .module import Module, Parameter, Sequential, StateDictError
from .precision import autocast

cpu_level()  # the CPU level is decided now: a bad NNX_CPU_LEVEL stops `import nnx`, naming it

# Loaded on first use: name -> (module, attribute or None for the module itself).
_LAZY = {
    "datasets": ("nnx.datasets", None), "io": ("nnx.io", None), "train": ("nnx.train", None),
    "onnx": ("nnx.onnx", None), "sklearn": ("nnx.sklearn", None), "distributed": ("nnx.distributed", None),
    "callbacks": ("nnx.train.callbacks", None), "metrics": ("nnx.train.metrics", None),
    "models": ("nnx.train.models", None), "plot": ("nnx.train.plot", None),
    "fit": ("nnx.train", "fit"), "evaluate": ("nnx.train", "evaluate"), "predict": ("nnx.train", "predict"),
    "Trainer": ("nnx.train", "Trainer"), "History": ("nnx.train", "History"), "summary": ("nnx.train", "summary"),
    "save": ("nnx.io", "save"), "load": ("nnx.io", "load"), "load_header": ("nnx.io", "load_header"),
}

__all__ = [
    "__version__", "datasets", "init", "io", "kernels", "optim",
    "get_backend_name", "set_backend", "use_backend", "get_num_threads", "set_num_threads",
    "show_config", "tune_malloc", "gradcheck", "GradcheckError", "cpu_level", "cpu_levels",
    "Module", "Parameter", "Sequential", "StateDictError",
    "Linear", "ReLU", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Loss", "SoftmaxCrossEntropy",
    "MSELoss", "HingeLoss", "BCEWithLogitsLoss", "regularization",
    "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Dropout", "BatchNorm1d", "BatchNorm2d", "Maxout", "Normalize", "Reshape",
    "Clip", "Pad2d", "Permute", "Softmax", "LogSoftmax", "Graph", "Add", "Concat", "Sub", "Mul", "Div",
    "summary", "save", "load", "load_header", "autocast", "precision",
    "callbacks", "metrics", "models", "plot", "train", "fit", "evaluate", "predict", "Trainer", "History",
]


def get_backend():
    """Deprecated alias of :func:`get_backend_name`, kept for one release as API.md says: the
    name of the tier the layers call. (``nnx.kernels.get_backend(name)`` returns a tier.)"""
    import warnings
    warnings.warn("nnx.get_backend() is deprecated: use nnx.get_backend_name() (nnx.kernels.get_backend(name) "
                  "returns a tier's namespace)", DeprecationWarning, stacklevel=2)
    return get_backend_name()


def __getattr__(name):
    """The application side and the optional extras, imported when first used (``nnx.onnx``,
    ``nnx.sklearn`` and ``nnx.distributed`` need ``pip install 'nnx[onnx]'`` / ``'nnx[sklearn]'``
    / ``'nnx[mpi]'``; ``import nnx`` never imports their libraries)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'nnx' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = _importlib.import_module(module)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value  # once: later lookups find it directly
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
