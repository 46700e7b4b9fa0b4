"""Data sets (the shipped 8x8 digits, MNIST / Fashion-MNIST) and mini-batch iteration."""
from .digits import load_digits
from .loader import DataLoader
from .mnist import load_mnist

__all__ = ["DataLoader", "load_digits", "load_mnist"]
