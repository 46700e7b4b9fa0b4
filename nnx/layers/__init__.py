"""Layers: one family per file."""
from .activations import ReLU
from .linear import Linear

__all__ = ["Linear", "ReLU"]
