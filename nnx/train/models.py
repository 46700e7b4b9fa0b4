"""Ready-made models of the course, sized from the input shape (used by ``python -m nnx train``)."""
import numpy as np

from .._validation import as_generator, check_positive_int
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from ..module import Sequential


def _shape(input_shape, where):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{where}: input_shape: expected (C, H, W), got {input_shape!r}")
    return shape


def mlp(input_shape=(1, 28, 28), num_classes=10, hidden=(256, 128), *, dtype=np.float32, rng=None):
    """Flatten -> [Linear -> ReLU] per hidden width -> Linear(num_classes).

    ``input_shape``: one sample's shape, an image ``(C, H, W)`` or flat ``(784,)``, or the number
    of features (``784``)."""
    shape = (input_shape,) if isinstance(input_shape, int | np.integer) else tuple(input_shape)
    if not shape or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(f"mlp: input_shape: expected an int or a shape of positive ints, got {input_shape!r}")
    rng = as_generator(rng, "rng", "mlp")
    layers, width = [Flatten()], int(np.prod(shape))
    for n in hidden:
        n = check_positive_int(n, "hidden", "mlp")
        layers += [Linear(width, n, dtype=dtype, rng=rng), ReLU()]
        width = n
    layers.append(Linear(width, check_positive_int(num_classes, "num_classes", "mlp"), dtype=dtype, rng=rng))
    return Sequential(*layers)


def lenet5(input_shape=(1, 28, 28), num_classes=10, *, dtype=np.float32, rng=None):
    """LeNet-5 with ReLU and max pooling: conv 6@5x5 pad 2, pool 2, conv 16@5x5, pool 2, 120, 84.

    On 28x28 input this is the classic network (16x5x5 features). Images smaller than 20x20
    (e.g. the 8x8 digits) also pad the second convolution by 2 so the feature maps do not
    vanish.
    """
    c, h, w = _shape(input_shape, "lenet5")
    if h < 4 or w < 4:
        raise ValueError(f"lenet5: input_shape: expected images of at least 4x4, got {h}x{w}")
    rng = as_generator(rng, "rng", "lenet5")
    pad2 = 0 if min(h, w) // 2 >= 10 else 2
    h2, w2 = (h // 2 + 2 * pad2 - 4) // 2, (w // 2 + 2 * pad2 - 4) // 2
    return Sequential(
        Conv2d(c, 6, 5, padding=2, dtype=dtype, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5, padding=pad2, dtype=dtype, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(16 * h2 * w2, 120, dtype=dtype, rng=rng), ReLU(),
        Linear(120, 84, dtype=dtype, rng=rng), ReLU(),
        Linear(84, check_positive_int(num_classes, "num_classes", "lenet5"), dtype=dtype, rng=rng),
    )


__all__ = ["lenet5", "mlp"]
