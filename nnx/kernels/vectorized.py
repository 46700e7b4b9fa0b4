"""NumPy tier: whole-array expressions, the form most NumPy users would write.

Same names and signatures as ``loops`` and ``compiled``; ``n_threads`` is accepted and ignored
(NumPy's BLAS follows ``nnx.set_num_threads`` through threadpoolctl).
"""
import numpy as np

from . import _args


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, n_threads=None):
    """C := op(A) op(B) + beta C (NumPy matmul, i.e. its BLAS).

    See ``nnx.kernels.loops.gemm`` for the parameters.
    """
    a, b, m, n, k, out, beta = _args.gemm_args(a, b, trans_a, trans_b, out, beta)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    if out is None:
        return np.matmul(opa, opb)
    if beta == 0.0:
        return np.matmul(opa, opb, out=out)
    prod = np.matmul(opa, opb)
    if beta != 1.0:
        out *= out.dtype.type(beta)
    out += prod
    return out


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) (NaN passes through), mask = x > 0."""
    x = _args.relu_forward_args(x)
    mask = x > 0
    y = np.maximum(x, x.dtype.type(0))
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else exact 0."""
    dy, mask = _args.relu_backward_args(dy, mask)
    return np.where(mask, dy, dy.dtype.type(0))


def _shifted(x):
    m = x.max(axis=1, keepdims=True)
    return x - m


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array."""
    x = _args.rows_args(x, "softmax")
    e = np.exp(_shifted(x))
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array."""
    x = _args.rows_args(x, "log_softmax")
    z = _shifted(x)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Mean cross-entropy and ``(softmax(logits) - onehot(labels)) / N``, composed from NumPy ops."""
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    n = logits.shape[0]
    rows = np.arange(n)
    logp = log_softmax(logits)
    loss = -float(logp[rows, labels].astype(np.float64).mean())
    dlogits = np.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One SGD step in place, as NumPy statements; see ``nnx.kernels.loops.sgd_update``."""
    _args.sgd_update_args(param, grad, momentum_buffer, momentum)
    t = param.dtype.type
    d = grad + t(weight_decay) * param if weight_decay != 0 else grad
    if momentum != 0:
        buf = momentum_buffer
        if first_step:
            buf[...] = d
        else:
            buf *= t(momentum)
            buf += t(1 - dampening) * d if dampening != 0 else d
        d = d + t(momentum) * buf if nesterov else buf
    param -= t(lr) * d
