"""Data sets: the shipped 8x8 digits, and mini-batch iteration."""
from .digits import load_digits
from .loader import DataLoader

__all__ = ["DataLoader", "load_digits"]
