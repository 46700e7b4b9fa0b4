"""Finite-difference check of a module's explicit backward."""
import copy

import numpy as np

from ._validation import as_generator, check_real
from .module import Module


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its central-difference estimate."""


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function ``f()`` w.r.t. every element of ``x``.

    ``x`` is perturbed in place and restored; returns an array like ``x``.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def gradcheck(module, x, eps=1e-6, atol=1e-5, rtol=1e-3, *, target=None, seed=0, mode="train"):
    """Compare ``module.backward`` with central differences, in float64.

    The module is deep-copied and cast to float64 (the original is untouched) and put in
    ``mode`` ("train", the default, or "eval"). For a layer the objective is ``sum(g * module(x))`` with a fixed random
    upstream gradient ``g``; for a loss (pass ``target=``) it is ``module(x, target)``.

    Parameters
    ----------
    module : nnx.Module
    x : ndarray or tuple of ndarrays
        The input(s); cast to float64 copies.
    eps, atol, rtol : float
        Step, and the test ``|analytic - numeric| <= atol + rtol * |numeric|``.
    target : array, optional
        Targets when ``module`` is a loss.
    seed : int
        Seed of the upstream gradient.
    mode : {"train", "eval"}
        Mode of the copy being checked (eval works for layers that support backward in eval
        mode, such as BatchNorm with its running statistics).

    Returns
    -------
    True

    Raises
    ------
    GradcheckError
        Naming the tensor (``"input"``, ``"input[1]"`` or a parameter name), the index and both
        values of the worst disagreement.
    """
    if not isinstance(module, Module):
        raise TypeError(f"gradcheck: module: expected an nnx.Module, got {type(module).__name__}")
    eps = check_real(eps, "eps", "gradcheck", low=0, low_open=True)
    atol = check_real(atol, "atol", "gradcheck", low=0)
    rtol = check_real(rtol, "rtol", "gradcheck", low=0)
    multi = isinstance(x, tuple | list)
    xs = [np.array(xi, dtype=np.float64, copy=True, order="C") for xi in (x if multi else (x,))]
    if mode not in ("train", "eval"):
        raise ValueError(f"gradcheck: mode: expected 'train' or 'eval', got {mode!r}")
    m = copy.deepcopy(module)._cast(np.float64).train(mode == "train")
    rng = as_generator(seed)
    is_loss = target is not None

    if is_loss:
        def objective():
            return float(m.forward(*xs, target))
        m.zero_grad()
        objective()
        analytic_inputs = [m.backward()]
    else:
        m.zero_grad()
        g = rng.standard_normal(np.shape(m.forward(*xs)))
        dx = m.backward(g)

        def objective():
            return float(np.sum(g * m.forward(*xs)))
        analytic_inputs = list(dx) if multi else [dx]
    analytic_params = {name: p.grad.copy() for name, p in m.named_parameters()}

    checks = [(f"input[{i}]" if multi else "input", a, xi)
              for i, (a, xi) in enumerate(zip(analytic_inputs, xs, strict=True))]
    checks += [(name, analytic_params[name], p.data) for name, p in m.named_parameters()]
    for name, analytic, values in checks:
        numeric = numerical_gradient(objective, values, eps)
        analytic = np.asarray(analytic, dtype=np.float64)
        if analytic.shape != numeric.shape:
            raise GradcheckError(
                f"gradcheck: {name}: backward returned shape {analytic.shape}, expected {numeric.shape}"
            )
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        bad = ~(err <= 0)  # NaN counts as a failure
        if bad.any():
            idx = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -np.inf))),
                                   numeric.shape)
            raise GradcheckError(
                f"gradcheck: {name} at index {tuple(int(i) for i in idx)}: analytic "
                f"{float(analytic[idx])!r} vs numerical {float(numeric[idx])!r} "  # 0.5, not np.float64(0.5)
                f"(atol={atol}, rtol={rtol}, eps={eps})"
            )
    return True
