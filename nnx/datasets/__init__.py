"""Data sets (the shipped 8x8 digits, MNIST / Fashion-MNIST) and mini-batch iteration."""
from .digits import load_digits
from .loader import DataLoader
from .mnist import load_mnist

#: Pixel mean and std of the training images in [0, 1], per data set (MNIST's are the usual
#: 0.1307 / 0.3081): what ``python -m nnx train`` gives its model's first layer, ``Normalize``.
NORMALIZE = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
#: The class names of a data set whose classes are not the digits 0-9.
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"],
}

__all__ = ["CLASS_NAMES", "DataLoader", "NORMALIZE", "load_digits", "load_mnist"]
