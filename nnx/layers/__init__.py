"""Layers: one family per file."""
from .activations import ReLU
from .conv import Conv2d
from .flatten import Flatten
from .linear import Linear
from .pool import AvgPool2d, MaxPool2d

__all__ = ["AvgPool2d", "Conv2d", "Flatten", "Linear", "MaxPool2d", "ReLU"]
