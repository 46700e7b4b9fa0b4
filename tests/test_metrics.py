"""nnx.metrics against hand-computed values and scikit-learn."""
import numpy as np
import pytest

from nnx import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _data(n=200, c=7, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    scores = rng.standard_normal((n, c))
    scores[np.arange(n), y] += 1.0  # better than chance, and tie-free
    return y, scores


def test_small_example_by_hand():
    y = [0, 0, 1, 2, 2, 2]
    p = [0, 1, 1, 2, 0, 2]
    assert metrics.accuracy(y, p) == pytest.approx(4 / 6)
    cm = metrics.confusion_matrix(y, p)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    prec, rec, f1, sup = metrics.precision_recall_f1(y, p)
    np.testing.assert_allclose(prec, [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(rec, [1 / 2, 1, 2 / 3])
    np.testing.assert_allclose(f1, [1 / 2, 2 / 3, 0.8])
    np.testing.assert_array_equal(sup, [2, 1, 3])


def test_scores_are_argmaxed():
    y, scores = _data()
    assert metrics.accuracy(y, scores) == metrics.accuracy(y, scores.argmax(1))
    assert metrics.accuracy(y, scores) == pytest.approx(sklearn_metrics.accuracy_score(y, scores.argmax(1)))


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_top_k_matches_sklearn(k):
    y, scores = _data()
    expect = sklearn_metrics.top_k_accuracy_score(y, scores, k=k, labels=np.arange(7))
    assert metrics.top_k_accuracy(y, scores, k=k) == pytest.approx(expect)
    if k == 1:
        assert metrics.top_k_accuracy(y, scores, k=1) == metrics.accuracy(y, scores)


def test_top_k_ties_count_in_favour():
    assert metrics.top_k_accuracy([0, 1], np.zeros((2, 3)), k=1) == 1.0


def test_confusion_and_prf_match_sklearn():
    y, scores = _data()
    p = scores.argmax(1)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, p, num_classes=7),
                                  sklearn_metrics.confusion_matrix(y, p, labels=np.arange(7)))
    ours = metrics.precision_recall_f1(y, p, num_classes=7)
    theirs = sklearn_metrics.precision_recall_fscore_support(y, p, labels=np.arange(7), zero_division=0)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_class_never_predicted_or_absent_gives_zero():
    y, p = [0, 0, 1], [0, 0, 0]
    prec, rec, f1, sup = metrics.precision_recall_f1(y, p, num_classes=3)
    np.testing.assert_allclose(prec, [2 / 3, 0, 0])
    np.testing.assert_allclose(rec, [1, 0, 0])
    np.testing.assert_array_equal(sup, [2, 1, 0])
    assert np.isfinite(f1).all()


def test_report_lists_every_class():
    text = metrics.classification_report([0, 1, 1], [0, 1, 0], class_names=["cat", "dog"])
    assert "cat" in text and "dog" in text and "accuracy" in text and "0.6667" in text


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.accuracy([0, 1], [0]), "y_pred"),
    (lambda: metrics.accuracy([0.5, 1], [0, 1]), "y_true"),
    (lambda: metrics.confusion_matrix([0, 3], [0, 1], num_classes=3), "y_true"),
    (lambda: metrics.confusion_matrix([0, -1], [0, 1]), "y_true"),
    (lambda: metrics.top_k_accuracy([0], np.zeros((1, 3)), k=0), "k"),
    (lambda: metrics.top_k_accuracy([0], np.zeros(3)), "scores"),
    (lambda: metrics.accuracy([0, 1], np.zeros((2, 2, 2))), "y_pred"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
