"""Optimizers and learning-rate schedules (torch's update rules, defaults and semantics)."""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedules import CosineAnnealingLR, InverseSqrtLR, LinearLR, LinearWarmup, LRSchedule, StepLR
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "InverseSqrtLR", "LRSchedule", "LinearLR",
           "LinearWarmup", "Optimizer", "RMSprop", "SGD", "StepLR"]
