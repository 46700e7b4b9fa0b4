"""Weight penalties: each returns the penalty (a Python float) and adds its gradient into
``.grad`` of every parameter given (pass only the weights you want penalised).

Conventions (chosen so that l2 matches ``weight_decay`` of the optimizers):
``l1 = lam * sum |p|``, ``l2 = lam / 2 * sum p^2`` (gradient ``lam * p``),
``elastic_net = lam * (beta * sum |p| + (1 - beta) / 2 * sum p^2)`` (scikit-learn's form with
``beta`` = l1_ratio).
"""
import numpy as np

from ._validation import check_real
from .module import Parameter


def _params(params, where):
    params = [params] if isinstance(params, Parameter) else list(params)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{where}: params: expected nnx.Parameter, got {type(p).__name__}")
    return params


def _penalty(params, l1, l2, where):
    total = 0.0
    for p in _params(params, where):
        t = p.dtype.type
        if l1:
            total += l1 * float(np.abs(p.data).sum(dtype=np.float64))
            p.accumulate(t(l1) * np.sign(p.data))
        if l2:
            total += 0.5 * l2 * float(np.square(p.data, dtype=np.float64).sum())
            p.accumulate(t(l2) * p.data)
    return total


def l1(params, lam):
    """``lam * sum |p|``; adds ``lam * sign(p)`` (0 at 0) to each gradient."""
    return _penalty(params, check_real(lam, "lam", "l1", low=0), 0.0, "l1")


def l2(params, lam):
    """``lam / 2 * sum p^2``; adds ``lam * p`` to each gradient (= SGD weight_decay=lam)."""
    return _penalty(params, 0.0, check_real(lam, "lam", "l2", low=0), "l2")


def elastic_net(params, lam, beta):
    """``lam * (beta * sum |p| + (1 - beta) / 2 * sum p^2)``, ``beta`` in [0, 1]."""
    lam = check_real(lam, "lam", "elastic_net", low=0)
    beta = check_real(beta, "beta", "elastic_net", low=0, high=1)
    return _penalty(params, lam * beta, lam * (1 - beta), "elastic_net")


__all__ = ["elastic_net", "l1", "l2"]
