"""Layers: one family per file."""
from .activations import ELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .flatten import Flatten
from .linear import Linear
from .pool import AvgPool2d, MaxPool2d

__all__ = ["AvgPool2d", "Conv2d", "ELU", "Flatten", "LeakyReLU", "Linear", "MaxPool2d", "ReLU", "Sigmoid", "Tanh"]
