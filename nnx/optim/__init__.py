"""Optimizers and learning-rate schedules (torch's update rules, defaults and semantics)."""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedules import CosineAnnealingLR, InverseSqrtLR, LinearLR, LinearWarmup, LRSchedule, StepLR
from .sgd import SGD

#: The optimizers by the names ``make`` (and the CLI's ``--optimizer``) take.
BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def make(name, params, **hyper):
    """The optimizer called ``name`` (a key of ``BY_NAME``) over ``params`` with ``hyper``."""
    if name not in BY_NAME:
        raise ValueError(f"optim.make: name: expected one of {sorted(BY_NAME)}, got {name!r}")
    return BY_NAME[name](params, **hyper)


__all__ = ["BY_NAME", "make", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "InverseSqrtLR", "LRSchedule",
           "LinearLR", "LinearWarmup", "Optimizer", "RMSprop", "SGD", "StepLR"]
