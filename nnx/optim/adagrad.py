"""Adagrad (torch's update rule and defaults)."""
from .. import kernels
from .._validation import check_real
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """torch.optim.Adagrad, per parameter with gradient ``g`` at step ``t`` (1-based)::

        g = g + weight_decay * p
        sum = sum + g^2
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)

    Parameters
    ----------
    params : iterable of Parameter or of group dicts
    lr : float >= 0 (default 0.01)
    eps : float >= 0 (default 1e-10)
    lr_decay, weight_decay, initial_accumulator_value : float >= 0 (keyword-only, default 0)
    """

    def __init__(self, params, lr=0.01, eps=1e-10, *, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0):
        super().__init__(params, dict(lr=lr, eps=eps, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _validate(self, group):
        super()._validate(group)
        for key in ("eps", "lr_decay", "weight_decay", "initial_accumulator_value"):
            check_real(group[key], key, "Adagrad", low=0)

    def step(self):
        """Update every parameter in place from its ``.grad`` (one fused kernel call each)."""
        k = kernels.current()
        for group in self.param_groups:
            for p in group["params"]:
                state = self._advance(p, "sum", fill=group["initial_accumulator_value"])
                clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                k.adagrad_update(p.data, p.grad, state["sum"], clr, group["eps"], group["weight_decay"])
