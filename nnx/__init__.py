"""nnx: a small, fast, honest neural-network library for the CPU.

Every layer has an explicit ``forward`` and ``backward``; every hot kernel exists as pure-Python
loops, NumPy and typed Cython with one API (``nnx.kernels``). See ../shared/API.md for the
contract and README.md for a tour.
"""
__version__ = "0.1.0"

import os as _os

# libgomp reads its wait policy once, when the compiled kernels load it. Its default is to
# spin for a while after each parallel region; on a 2-core machine those spinning threads take
# the cores away from NumPy's BLAS threads that run the next GEMM (measured: MLP training at
# 2 threads went from ~33k to ~12k samples/s). Passive waiting costs a few microseconds per
# wake-up, which the size thresholds of the compiled tier make irrelevant. A user's own
# OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from . import _malloc  # noqa: E402

_malloc.tune()

# nnx.train is the training-loop module (fit/evaluate/predict); Module.train() is the mode switch.
from . import callbacks, datasets, init, kernels, metrics, models, optim, plot, regularization, train  # noqa: E402
from ._config import (  # noqa: E402
    get_backend,
    get_num_threads,
    set_backend,
    set_num_threads,
    use_backend,
)
from ._info import show_config  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .graph import Add, Graph  # noqa: E402
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
    "get_backend", "set_backend", "use_backend", "get_num_threads", "set_num_threads",
    "show_config", "gradcheck", "GradcheckError",
    "Module", "Parameter", "Sequential", "StateDictError",
    "Linear", "ReLU", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Loss", "SoftmaxCrossEntropy",
    "MSELoss", "HingeLoss", "BCEWithLogitsLoss", "regularization",
    "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Dropout", "BatchNorm1d", "BatchNorm2d", "Maxout",
    "Graph", "Add", "summary", "save", "load", "load_header",
    "callbacks", "metrics", "models", "plot", "train", "fit", "evaluate", "predict", "Trainer", "History",
]
