"""Adam and AdamW (torch's update rules and defaults)."""
from .. import kernels
from .._validation import check_real
from .optimizer import Optimizer


class Adam(Optimizer):
    """torch.optim.Adam, per parameter with gradient ``g`` at step ``t`` (1-based)::

        g = g + weight_decay * p                    (L2 penalty, coupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Parameters
    ----------
    params : iterable of Parameter or of group dicts
    lr : float >= 0 (default 1e-3)
    betas : (float, float) in [0, 1) (default (0.9, 0.999))
    eps : float >= 0 (default 1e-8)
    weight_decay : float >= 0 (default 0)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{name}: betas: expected a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            check_real(b, f"betas[{i}]", name, low=0, high=1, high_open=True)
        group["betas"] = (float(betas[0]), float(betas[1]))
        check_real(group["eps"], "eps", name, low=0)
        check_real(group["weight_decay"], "weight_decay", name, low=0)

    def step(self):
        """Update every parameter in place from its ``.grad`` (one fused kernel call each)."""
        k = kernels.current()
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                state = self._advance(p, "exp_avg", "exp_avg_sq")
                k.adam_update(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"], lr, b1, b2, eps, wd,
                              state["step"], self._decoupled)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, ``p *= 1 - lr * weight_decay``
    before the Adam step (default weight_decay 1e-2, as torch)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
