"""The 8x8 UCI handwritten digits, shipped inside the package (no network).

``data/digits.csv.gz`` holds 1,797 images, one per line: 64 pixel counts in 0..16 followed by
the label 0..9. It is the test part of the UCI "Optical Recognition of Handwritten Digits"
data set (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), byte for byte the copy that scikit-learn
ships as ``sklearn/datasets/data/digits.csv.gz`` (BSD-3-Clause). See ``data/README.md``.
"""
import gzip
from importlib import resources

import numpy as np

from .._validation import check_real

N_SAMPLES = 1797


def _read_csv():
    with resources.files(__package__).joinpath("data/digits.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (N_SAMPLES, 65):
        raise ValueError(f"load_digits: the shipped file is damaged: shape {table.shape}")
    return table[:, :64], table[:, 64]


def load_digits(test_size=0.2, seed=0):
    """Return the 8x8 digits split into a stratified train and test set.

    Parameters
    ----------
    test_size : float in (0, 1)
        Fraction of each class held out for testing (default 0.2: 1,438 train / 359 test).
    seed : int
        Seed of the split (the default split is fixed, so accuracies are comparable).

    Returns
    -------
    X_train : ndarray (N_train, 1, 8, 8) float32 in [0, 1]
    y_train : ndarray (N_train,) int64
    X_test : ndarray (N_test, 1, 8, 8) float32 in [0, 1]
    y_test : ndarray (N_test,) int64
    """
    test_size = check_real(test_size, "test_size", "load_digits", low=0, high=1,
                           low_open=True, high_open=True)
    pixels, labels = _read_csv()
    images = (pixels.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        test_idx.append(idx[: int(round(test_size * idx.size))])
    test = np.zeros(labels.size, dtype=bool)
    test[np.concatenate(test_idx)] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    test_idx = rng.permutation(np.flatnonzero(test))
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
