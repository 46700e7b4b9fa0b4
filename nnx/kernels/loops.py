"""Reference tier: plain Python loops, one scalar at a time.

Obviously correct and hopelessly slow: use it on tiny inputs, to read, and as the reference the
other tiers are tested against. Same names and signatures as ``vectorized`` and ``compiled``.
"""
import math

import numpy as np

from . import _args


def gemm(a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, n_threads=None):
    """C := op(A) op(B) + beta C.

    Parameters
    ----------
    a, b : ndarray, 2-D, same float dtype
    trans_a, trans_b : bool
        Use the transpose of ``a`` / ``b``.
    out : ndarray (M, N), optional
        Written in place; read only when ``beta != 0`` (then it is required).
    beta : float

    Returns
    -------
    ndarray (M, N)
    """
    a, b, m, n, k, out, beta = _args.gemm_args(a, b, trans_a, trans_b, out, beta)
    c = np.empty((m, n), dtype=a.dtype) if out is None else out
    for i in range(m):
        for j in range(n):
            acc = 0.0
            for p in range(k):
                aip = a[p, i] if trans_a else a[i, p]
                bpj = b[j, p] if trans_b else b[p, j]
                acc += aip * bpj
            c[i, j] = acc + beta * c[i, j] if beta != 0.0 else acc
    return c


def relu_forward(x, *, n_threads=None):
    """y = max(x, 0) elementwise (NaN passes through); mask = x > 0.

    Returns
    -------
    y : ndarray, like x
    mask : ndarray of bool, like x
    """
    x = _args.relu_forward_args(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=bool)
    xf, yf, mf = x.reshape(-1), y.reshape(-1), mask.reshape(-1)
    for i in range(xf.size):
        v = xf[i]
        mf[i] = v > 0
        yf[i] = 0 if v <= 0 else v
    return y, mask


def relu_backward(dy, mask, *, n_threads=None):
    """dx = dy where mask, else 0 (exact zeros: a NaN in dy where mask is False does not leak)."""
    dy, mask = _args.relu_backward_args(dy, mask)
    dx = np.empty_like(dy)
    df, mf, xf = dy.reshape(-1), mask.reshape(-1), dx.reshape(-1)
    for i in range(df.size):
        xf[i] = df[i] if mf[i] else 0
    return dx


def _row_max_sumexp(row):
    m = -math.inf
    for v in row:
        if v > m:
            m = v
    s = 0.0
    for v in row:
        s += math.exp(v - m)  # NaN in, NaN out; v - m <= 0 so no overflow
    return m, s


def softmax(x, *, n_threads=None):
    """Row-wise softmax of a (N, C) array: exp(x - max) / sum(exp(x - max))."""
    x = _args.rows_args(x, "softmax")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        m, s = _row_max_sumexp(x[i].tolist())
        for j in range(x.shape[1]):
            out[i, j] = math.exp(x[i, j] - m) / s
    return out


def log_softmax(x, *, n_threads=None):
    """Row-wise log-softmax of a (N, C) array: x - max - log(sum(exp(x - max)))."""
    x = _args.rows_args(x, "log_softmax")
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        m, s = _row_max_sumexp(x[i].tolist())
        shift = m + math.log(s)
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] - shift
    return out


def softmax_cross_entropy(logits, labels, *, n_threads=None):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Returns
    -------
    loss : float
        ``mean_i (logsumexp(logits[i]) - logits[i, labels[i]])``.
    dlogits : ndarray (N, C)
        ``(softmax(logits) - onehot(labels)) / N``.
    """
    logits, labels = _args.softmax_cross_entropy_args(logits, labels)
    n, c = logits.shape
    dlogits = np.empty_like(logits)
    total = 0.0
    for i in range(n):
        m, s = _row_max_sumexp(logits[i].tolist())
        y = int(labels[i])
        total += math.log(s) + m - float(logits[i, y])
        for j in range(c):
            p = math.exp(logits[i, j] - m) / s
            dlogits[i, j] = (p - (1.0 if j == y else 0.0)) / n
    return total / n, dlogits


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, *, n_threads=None):
    """One torch.optim.SGD step for one parameter, **in place** on ``param`` and the buffer.

    ``d = grad + weight_decay * param``; with momentum, ``buf = d`` on the first step, else
    ``buf = momentum * buf + (1 - dampening) * d``, and ``d = d + momentum * buf`` (Nesterov)
    or ``d = buf``; then ``param -= lr * d``. ``momentum_buffer`` may be None without momentum.
    """
    _args.sgd_update_args(param, grad, momentum_buffer, momentum)
    p, g = param.reshape(-1), grad.reshape(-1)
    b = momentum_buffer.reshape(-1) if momentum_buffer is not None else None
    t = param.dtype.type
    lr, mu, damp, wd = t(lr), t(momentum), t(dampening), t(weight_decay)
    for i in range(p.size):
        d = g[i]
        if wd != 0:
            d = d + wd * p[i]
        if mu != 0:
            b[i] = d if first_step else (mu * b[i] + (t(1) - damp) * d if damp != 0 else mu * b[i] + d)
            d = d + mu * b[i] if nesterov else b[i]
        p[i] = p[i] - lr * d
