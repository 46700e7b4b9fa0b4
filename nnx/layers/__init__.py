"""Layers: one family per file."""
from .activations import ELU, Clip, LeakyReLU, ReLU, Sigmoid, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Permute, Reshape
from .linear import Linear
from .maxout import Maxout
from .norm import BatchNorm1d, BatchNorm2d
from .normalize import Normalize
from .pad import Pad2d
from .pool import AvgPool2d, MaxPool2d
from .softmax import LogSoftmax, Softmax

__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Clip", "Conv2d", "Dropout", "ELU", "Flatten", "LeakyReLU",
           "Linear", "LogSoftmax", "MaxPool2d", "Maxout", "Normalize", "Pad2d", "Permute", "ReLU", "Reshape", "Sigmoid",
           "Softmax", "Tanh"]
