"""Optimizers (torch's update rules and defaults)."""
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
