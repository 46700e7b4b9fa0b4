"""Learning-rate schedules with torch's semantics.

Constructing a schedule sets the learning rate of step 0 in every parameter group; each
``step()`` advances one step and sets the next rate; ``get_last_lr()`` returns the rates in
force, one per group. The base rate of a group is its ``initial_lr`` (the lr it had when the
optimizer was built). StepLR, CosineAnnealingLR and LinearLR use torch's recursive update
formulas, so that trajectories match torch's to rounding.
"""
import copy
import math

from .._validation import check_positive_int, check_real
from .optimizer import Optimizer


class LRSchedule:
    """Base class: subclasses implement ``_compute()`` -> list of rates for ``self.last_epoch``."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer: expected an nnx.optim.Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply(self._compute())

    def _apply(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def _current(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def _compute(self):
        raise NotImplementedError

    def step(self):
        """Advance one step and set the learning rates for it."""
        self.last_epoch += 1
        self._apply(self._compute())

    def get_last_lr(self):
        """The learning rates set by the last ``step()`` (or the constructor), one per group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer, as torch's: a schedule it wraps (``LinearWarmup``'s
        ``after``) as its own state dict under its attribute's name."""
        return {k: (v.state_dict() if isinstance(v, LRSchedule) else copy.deepcopy(v))
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        """Restore what ``state_dict`` returned (same schedule class and wrapped schedules)."""
        if not isinstance(state, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict, got {type(state).__name__}")
        for k, v in state.items():
            mine = self.__dict__.get(k)
            if isinstance(mine, LRSchedule):
                mine.load_state_dict(v)
            elif k != "optimizer":
                self.__dict__[k] = copy.deepcopy(v)


class StepLR(LRSchedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = check_positive_int(step_size, "step_size", "StepLR")
        self.gamma = check_real(gamma, "gamma", "StepLR", low=0)
        super().__init__(optimizer)

    def _compute(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRSchedule):
    """Cosine from the base rate down to ``eta_min`` over ``T_max`` steps (torch's recursion,
    which keeps oscillating with period 2*T_max past T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        self.T_max = check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = check_real(eta_min, "eta_min", "CosineAnnealingLR", low=0)
        super().__init__(optimizer)

    def _compute(self):
        e, t, lo = self.last_epoch, self.T_max, self.eta_min
        cur = self._current()
        if e == 0:
            return cur
        if (e - 1 - t) % (2 * t) == 0:
            return [lr + (b - lo) * (1 - math.cos(math.pi / t)) / 2 for lr, b in zip(cur, self.base_lrs, strict=True)]
        return [(1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t)) * (lr - lo) + lo
                for lr in cur]


class LinearLR(LRSchedule):
    """Scale the base rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    steps, then keep it (torch's defaults: 1/3, 1.0, 5)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.start_factor = check_real(start_factor, "start_factor", "LinearLR", low=0, high=1, low_open=True)
        self.end_factor = check_real(end_factor, "end_factor", "LinearLR", low=0, high=1)
        self.total_iters = check_positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer)

    def _compute(self):
        e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        cur = self._current()
        if e == 0:
            return [lr * s for lr in cur]
        if e > n:
            return cur
        return [lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))) for lr in cur]


class InverseSqrtLR(LRSchedule):
    """Linear warm-up, then decay as 1/sqrt(step): with n steps taken and base rate b,
    ``b * min(1, (n + 1) / warmup_steps)`` while ``n < warmup_steps``, then
    ``b * sqrt(warmup_steps / n)`` (the schedule of "Attention is all you need", normalised)."""

    def __init__(self, optimizer, warmup_steps):
        self.warmup_steps = check_positive_int(warmup_steps, "warmup_steps", "InverseSqrtLR")
        super().__init__(optimizer)

    def _compute(self):
        n, w = self.last_epoch, self.warmup_steps
        f = min(1.0, (n + 1) / w) if n < w else math.sqrt(w / n)
        return [b * f for b in self.base_lrs]


class LinearWarmup(LRSchedule):
    """``b * min(1, (n + 1) / warmup_steps)`` for the first ``warmup_steps`` steps; then the
    schedule ``after`` (built on the same optimizer) takes over: its step 0 is step
    ``warmup_steps`` of this one. Without ``after`` the rate stays at ``b``."""

    def __init__(self, optimizer, warmup_steps, after=None):
        self.warmup_steps = check_positive_int(warmup_steps, "warmup_steps", "LinearWarmup")
        if after is not None:
            if not isinstance(after, LRSchedule) or after.optimizer is not optimizer:
                raise ValueError("LinearWarmup: after: expected a schedule built on the same optimizer")
            if after.last_epoch != 0:
                raise ValueError("LinearWarmup: after: expected a fresh schedule (no step() taken yet)")
        self.after = after
        self._after_start = after.get_last_lr() if after is not None else None
        super().__init__(optimizer)

    def _compute(self):
        n, w = self.last_epoch, self.warmup_steps
        if n < w:
            return [b * min(1.0, (n + 1) / w) for b in self.base_lrs]
        if self.after is None:
            return list(self.base_lrs)
        if n == w:
            self._apply(self._after_start)  # the rates `after` set at its own step 0
            return list(self._after_start)
        self.after.step()
        return self.after.get_last_lr()
