"""The shipped digits and the mini-batch iterator."""
import numpy as np
import pytest

import nnx


def test_load_digits_shapes_range_and_split():
    X_train, y_train, X_test, y_test = nnx.datasets.load_digits()
    assert X_train.shape == (1438, 1, 8, 8) and X_test.shape == (359, 1, 8, 8)
    assert X_train.dtype == np.float32 and X_train.min() >= 0 and X_train.max() <= 1
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))
    # stratified: every class holds out ~20%
    counts = np.bincount(y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    # deterministic and disjoint
    again = nnx.datasets.load_digits()
    np.testing.assert_array_equal(again[0], X_train)
    all_rows = np.concatenate([X_train, X_test]).reshape(1797, -1)
    assert len(np.unique(all_rows, axis=0)) >= 1790  # (a few duplicates exist in the source)


def test_load_digits_validates_test_size():
    with pytest.raises(ValueError, match="test_size"):
        nnx.datasets.load_digits(test_size=1.5)


def test_dataloader_covers_every_sample_once_per_epoch_and_is_seeded():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    dl = nnx.datasets.DataLoader(X, y, batch_size=4, rng=0)
    assert len(dl) == 3
    batches = list(dl)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10))
    np.testing.assert_array_equal(np.concatenate([b[0][:, 0] for b in batches]), seen)
    again = np.concatenate([b[1] for b in nnx.datasets.DataLoader(X, y, batch_size=4, rng=0)])
    np.testing.assert_array_equal(seen, again)
    assert len(nnx.datasets.DataLoader(X, y, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="y"):
        nnx.datasets.DataLoader(X, y[:5])
