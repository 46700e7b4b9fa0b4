"""nnx: a small, fast, honest neural-network library for the CPU.

Every layer has an explicit ``forward`` and ``backward``; every hot kernel exists as pure-Python
loops, NumPy and typed Cython with one API (``nnx.kernels``). See ../shared/API.md for the
contract and README.md for a tour.
"""
__version__ = "0.1.0"

# libgomp's wait policy is left at its default (worker threads spin ~300k iterations after a
# parallel region, then sleep): the compiled tier no longer calls BLAS, so no second thread
# pool competes for the cores, and the spinning covers the short gaps between the kernels of
# a training step. Measured on 2 cores, e2e 2 threads (bench/NOTES.md): MLP 784-512-256-10
# 32-36k samples/s with OMP_WAIT_POLICY=PASSIVE vs 39-43k with the default, LeNet-5 9.3-10.7k
# vs 11.4-12.3k. A user's OMP_WAIT_POLICY / GOMP_SPINCOUNT is honoured as always.

from . import _malloc

_malloc.tune()

# nnx.train is the training-loop module (fit/evaluate/predict); Module.train() is the mode switch.
from . import callbacks, datasets, init, kernels, metrics, models, optim, plot, regularization, train  # noqa: E402
from ._config import get_num_threads, set_num_threads  # noqa: E402
from ._info import show_config  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .graph import Add, Graph  # noqa: E402
from .kernels import get_backend_name, set_backend, use_backend  # noqa: E402
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
from .serialization import load, load_header, save  # noqa: E402
from .summary import summary  # noqa: E402
from .train import History, Trainer, evaluate, fit, predict  # noqa: E402

__all__ = [
    "__version__", "datasets", "init", "kernels", "optim",
    "get_backend", "get_backend_name", "set_backend", "use_backend", "get_num_threads", "set_num_threads",
    "show_config", "gradcheck", "GradcheckError",
    "Module", "Parameter", "Sequential", "StateDictError",
    "Linear", "ReLU", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Loss", "SoftmaxCrossEntropy",
    "MSELoss", "HingeLoss", "BCEWithLogitsLoss", "regularization",
    "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Dropout", "BatchNorm1d", "BatchNorm2d", "Maxout",
    "Graph", "Add", "summary", "save", "load", "load_header",
    "callbacks", "metrics", "models", "plot", "train", "fit", "evaluate", "predict", "Trainer", "History",
]


def get_backend():
    """Deprecated alias of :func:`get_backend_name` (kept for one release)."""
    import warnings

    warnings.warn("nnx.get_backend() is deprecated: use nnx.get_backend_name() for the tier's name "
                  "(nnx.kernels.get_backend(name) returns a tier's module)", DeprecationWarning, stacklevel=2)
    return get_backend_name()
