"""Mini-batch iteration with seeded shuffling (a small torch DataLoader)."""
import numpy as np

from .._validation import as_generator, check_positive_int


class DataLoader:
    """Iterate over ``(X[batch], y[batch])`` mini-batches.

    Parameters
    ----------
    X : ndarray (N, ...)
    y : ndarray (N,), optional
    batch_size : int
    shuffle : bool
        Reshuffle at the start of every epoch (every ``iter()``).
    rng : numpy.random.Generator or int seed, optional
        Makes the order reproducible.
    drop_last : bool
        Drop a final incomplete batch.

    Batches are contiguous copies (fancy indexing), so kernels never need to copy them again.
    """

    def __init__(self, X, y=None, batch_size=64, shuffle=True, rng=None, drop_last=False):
        if not isinstance(X, np.ndarray) or X.ndim < 1:
            raise TypeError(f"DataLoader: X: expected an ndarray with a batch axis, got {type(X).__name__}")
        if y is not None:
            y = np.asarray(y)
            if y.shape[:1] != X.shape[:1]:
                raise ValueError(f"DataLoader: y: expected {X.shape[0]} rows (as X), got shape {y.shape}")
        self.X, self.y = X, y
        self.batch_size = check_positive_int(batch_size, "batch_size", "DataLoader")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.rng = as_generator(rng, "rng", "DataLoader")

    def __len__(self):
        n = self.X.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = self.X.shape[0]
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield (self.X[idx], self.y[idx]) if self.y is not None else self.X[idx]
