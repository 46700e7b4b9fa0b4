"""Classification metrics: accuracy, top-k accuracy, confusion matrix, precision/recall/F1.

Conventions follow scikit-learn: confusion-matrix rows are true classes and columns predicted
classes; a precision or recall whose denominator is zero is reported as 0 (sklearn's
``zero_division=0``, without the warning). Predictions may be class indices (1-D) or scores /
logits of shape (N, C), which are turned into indices with ``argmax`` (ties go to the lowest
class, as ``numpy.argmax`` and ``torch.argmax``).
"""
import numpy as np

from .._validation import check_labels, check_positive_int


def _labels_and_preds(y_true, y_pred, num_classes, where):
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        if num_classes is None:
            num_classes = y_pred.shape[1]
        elif y_pred.shape[1] != num_classes:
            raise ValueError(f"{where}: y_pred: expected scores with {num_classes} columns, got shape "
                             f"{y_pred.shape}")
        y_pred = y_pred.argmax(axis=1)
    elif y_pred.ndim != 1:
        raise ValueError(f"{where}: y_pred: expected class indices (N,) or scores (N, C), got shape "
                         f"{y_pred.shape}")
    y_true_arr = np.asarray(y_true)
    if num_classes is None:  # the largest label seen (validated below)
        ints = [a for a in (y_true_arr, y_pred) if a.size and np.issubdtype(a.dtype, np.integer)]
        num_classes = 1 + max((int(a.max()) for a in ints), default=0)
    num_classes = check_positive_int(num_classes, "num_classes", where)
    n = y_true_arr.shape[0] if y_true_arr.ndim else 0
    y_true = check_labels(y_true_arr, n, num_classes, "y_true", where)
    y_pred = check_labels(y_pred, y_true.shape[0], num_classes, "y_pred", where)
    return y_true, y_pred, num_classes


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class (or argmax of scores) equals the label."""
    y_true, y_pred, _ = _labels_and_preds(y_true, y_pred, None, "accuracy")
    return float(np.mean(y_true == y_pred)) if y_true.size else 0.0


def top_k_accuracy(y_true, scores, k=5):
    """Fraction of samples whose true class is among the ``k`` highest scores.

    A sample counts when fewer than ``k`` classes score strictly higher than its true class
    (so ties never count against it).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"top_k_accuracy: scores: expected shape (N, C), got {scores.shape}")
    k = check_positive_int(k, "k", "top_k_accuracy")
    y_true = check_labels(y_true, scores.shape[0], scores.shape[1], "y_true", "top_k_accuracy")
    if not y_true.size:
        return 0.0
    true_score = scores[np.arange(len(y_true)), y_true]
    higher = (scores > true_score[:, None]).sum(axis=1)
    return float(np.mean(higher < k))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """``(C, C)`` int64 counts: entry ``[i, j]`` is the number of class-``i`` samples predicted ``j``."""
    y_true, y_pred, c = _labels_and_preds(y_true, y_pred, num_classes, "confusion_matrix")
    return np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c).astype(np.int64)


def precision_recall_f1(y_true, y_pred, num_classes=None):
    """Per-class ``(precision, recall, f1, support)``, each a length-C array.

    precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean, support the
    number of true samples of the class; 0 where a denominator is 0.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


def classification_report(y_true, y_pred, num_classes=None, class_names=None):
    """A text table of per-class precision, recall, F1 and support, with accuracy and macro means."""
    p, r, f, s = precision_recall_f1(y_true, y_pred, num_classes)
    names = [str(i) for i in range(len(p))] if class_names is None else [str(n) for n in class_names]
    if len(names) != len(p):
        raise ValueError(f"classification_report: class_names: expected {len(p)} names, got {len(names)}")
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"]
    for i, name in enumerate(names):
        lines.append(f"{name:>{width}} {p[i]:9.4f} {r[i]:9.4f} {f[i]:9.4f} {s[i]:9d}")
    total = int(s.sum())
    acc = float(np.trace(confusion_matrix(y_true, y_pred, len(p)))) / total if total else 0.0
    lines.append("")
    lines.append(f"{'accuracy':>{width}} {'':>9} {'':>9} {acc:9.4f} {total:9d}")
    lines.append(f"{'macro avg':>{width}} {p.mean():9.4f} {r.mean():9.4f} {f.mean():9.4f} {total:9d}")
    return "\n".join(lines)


__all__ = ["accuracy", "classification_report", "confusion_matrix", "precision_recall_f1", "top_k_accuracy"]
