"""Stochastic gradient descent with momentum, Nesterov and weight decay (torch's update rule)."""
import numpy as np

from .. import kernels
from .._validation import check_real
from .optimizer import Optimizer


class SGD(Optimizer):
    """torch.optim.SGD's rule, per parameter with gradient ``g``::

        g = g + weight_decay * p
        if momentum:
            buf = g                                   (first step)
            buf = momentum * buf + (1 - dampening) * g  (later steps)
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Parameter or of group dicts
    lr : float >= 0 (default 1e-3, as in torch)
    momentum, weight_decay, dampening : float >= 0
    nesterov : bool (needs momentum > 0 and dampening == 0)
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0, *,
                 dampening=0.0):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                        dampening=dampening)
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        name = "SGD"
        for key in ("momentum", "weight_decay", "dampening"):
            check_real(group[key], key, name, low=0)
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"{name}: nesterov: expected a bool, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{name}: nesterov=True requires momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def step(self):
        """Update every parameter in place from its ``.grad`` (one fused kernel call each)."""
        k = kernels.current()
        for group in self.param_groups:
            mu = group["momentum"]
            for p in group["params"]:
                buf, first = None, False
                if mu != 0:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.empty_like(p.data)
                        first = True
                k.sgd_update(p.data, p.grad, buf, group["lr"], mu, group["dampening"],
                             group["weight_decay"], group["nesterov"], first)
