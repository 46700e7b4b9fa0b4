"""Compiled tier: the Cython kernels under the common names.

Each wrapper validates (the same checks as the other tiers), makes inputs C-contiguous once,
allocates the outputs and hands raw buffers to ``nogil`` code. Tiny problems run on one thread:
waking an OpenMP team costs microseconds, and libgomp's spin-waiting threads compete with
NumPy's BLAS threads for the same two cores.
"""
import numpy as np

from .._config import resolve_threads
from . import _activations, _args, _losses, _optim
from . import vectorized as _vectorized

# Below these sizes a kernel runs on one thread (measured on 2 cores: the fork/join costs more
# than the work saves). Elementwise: elements; row-wise: N * C.
PARALLEL_MIN_ELEMENTS = 1 << 18
PARALLEL_MIN_ROW_ELEMENTS = 1 << 14


def _threads(n_threads, work, threshold):
    n = resolve_threads(n_threads)
    return 1 if work < threshold else n


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, n_threads=None):
    """C := op(A) op(B) + beta C.

    For now this calls NumPy's BLAS (threads follow ``nnx.set_num_threads``); a Cython blocked
    GEMM is planned. See ``nnx.kernels.loops.gemm`` for the parameters.
    """
    return _vectorized.gemm(a, b, trans_a, trans_b, out, beta)


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) (NaN passes through), mask = x > 0; one fused pass."""
    x = _args.relu_forward_args(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=bool)
    nt = _threads(n_threads, x.size, PARALLEL_MIN_ELEMENTS)
    _activations.relu_forward(x.reshape(-1), y.reshape(-1), mask.reshape(-1).view(np.uint8), nt)
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else exact 0; never writes into ``dy``."""
    dy, mask = _args.relu_backward_args(dy, mask)
    dx = np.empty_like(dy)
    nt = _threads(n_threads, dy.size, PARALLEL_MIN_ELEMENTS)
    _activations.relu_backward(dy.reshape(-1), mask.reshape(-1).view(np.uint8), dx.reshape(-1), nt)
    return dx


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array, one pass per row."""
    x = _args.rows_args(x, "softmax")
    out = np.empty_like(x)
    _losses.softmax(x, out, _threads(n_threads, x.size, PARALLEL_MIN_ROW_ELEMENTS))
    return out


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array, one pass per row."""
    x = _args.rows_args(x, "log_softmax")
    out = np.empty_like(x)
    _losses.log_softmax(x, out, _threads(n_threads, x.size, PARALLEL_MIN_ROW_ELEMENTS))
    return out


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Fused mean cross-entropy and ``(softmax(logits) - onehot(labels)) / N``, one pass per row.

    Per-row losses are summed after the parallel loop, in row order, so the loss does not
    depend on the thread count.
    """
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    dlogits = np.empty_like(logits)
    row_loss = np.empty(logits.shape[0], dtype=np.float64)
    nt = _threads(n_threads, logits.size, PARALLEL_MIN_ROW_ELEMENTS)
    _losses.softmax_cross_entropy(logits, labels, dlogits, row_loss, nt)
    return float(row_loss.sum() / logits.shape[0]), dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One SGD step in place, one fused pass; see ``nnx.kernels.loops.sgd_update``."""
    _args.sgd_update_args(param, grad, momentum_buffer, momentum)
    buf = momentum_buffer if momentum_buffer is not None else param  # not touched when mu == 0
    nt = _threads(n_threads, param.size, PARALLEL_MIN_ELEMENTS)
    _optim.sgd_update(param.reshape(-1), grad.reshape(-1), buf.reshape(-1), float(lr),
                      float(momentum), float(dampening), float(weight_decay), bool(nesterov),
                      bool(first_step), nt)
