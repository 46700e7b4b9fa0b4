"""RMSprop (torch's update rule and defaults)."""
from .. import kernels
from .._validation import check_real
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """torch.optim.RMSprop, per parameter with gradient ``g``::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g^2
        avg = sqrt(v - mean_g^2) + eps   if centered (mean_g = alpha*mean_g + (1-alpha)*g)
        avg = sqrt(v) + eps              otherwise
        buf = momentum * buf + g / avg;  p = p - lr * buf     (momentum > 0)
        p = p - lr * g / avg                                  (momentum = 0)

    Parameters
    ----------
    params : iterable of Parameter or of group dicts
    lr : float >= 0 (default 0.01)
    alpha : float in [0, 1] (default 0.99)
    eps : float >= 0 (default 1e-8)
    momentum : float >= 0 (default 0)
    weight_decay : float >= 0, centered : bool (keyword-only)
    """

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, *, weight_decay=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      weight_decay=weight_decay, centered=centered))

    def _validate(self, group):
        super()._validate(group)
        check_real(group["alpha"], "alpha", "RMSprop", low=0, high=1)
        for key in ("eps", "momentum", "weight_decay"):
            check_real(group[key], key, "RMSprop", low=0)
        if not isinstance(group["centered"], bool):
            raise TypeError(f"RMSprop: centered: expected a bool, got {group['centered']!r}")

    def step(self):
        """Update every parameter in place from its ``.grad`` (one fused kernel call each)."""
        k = kernels.current()
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                state = self._advance(p, "square_avg", *(("momentum_buffer",) if mu > 0 else ()),
                                      *(("grad_avg",) if group["centered"] else ()))
                k.rmsprop_update(p.data, p.grad, state["square_avg"], state.get("grad_avg"),
                                 state.get("momentum_buffer"), group["lr"], group["alpha"], group["eps"],
                                 group["weight_decay"], mu)
