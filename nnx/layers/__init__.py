"""Layers: one family per file."""
from .activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .maxout import Maxout
from .norm import BatchNorm1d, BatchNorm2d
from .normalize import Normalize
from .pool import AvgPool2d, MaxPool2d

__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "ELU", "Flatten", "LeakyReLU",
           "Linear", "MaxPool2d", "Maxout", "Normalize", "ReLU", "Sigmoid", "Tanh"]
