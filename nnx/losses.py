"""Loss functions: ``loss = crit.forward(outputs, targets)`` returns a Python float and
``crit.backward()`` returns the gradient w.r.t. ``outputs``."""

import numpy as np

from . import kernels
from ._validation import check_array, check_labels, check_real
from .module import Module

_REDUCTIONS = ("mean", "sum")


class Loss(Module):
    """Base class: ``forward(outputs, targets)`` -> float, ``backward(grad_out=1.0)`` -> array.

    A loss keeps its gradient from the last forward in both modes (it is the size of the
    outputs and validation losses are often computed in eval mode).
    ``grad_out`` scales the returned gradient (d total / d loss), default 1.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction: expected one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction
        self._grad = None

    def forward(self, outputs, targets):
        """The loss of ``outputs`` against ``targets`` (a float, reduced as ``reduction`` says);
        keeps d loss / d outputs for ``backward``."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_out=1.0):
        """d loss / d outputs of the last ``forward``, times ``grad_out``."""
        grad = self._need_cache(self._grad)
        scale = check_real(grad_out, "grad_out", f"{type(self).__name__}.backward")
        return grad * grad.dtype.type(scale) if scale != 1.0 else grad.copy()

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy against integer labels, fused (torch's CrossEntropyLoss).

    ``forward(logits (N, C), labels (N,))`` returns the mean (or sum) over the batch of
    ``logsumexp(logits[i]) - logits[i, labels[i]]``; ``backward()`` returns
    ``(softmax(logits) - onehot(labels)) / N`` (without the ``/ N`` for ``reduction="sum"``).
    """

    def forward(self, outputs, targets):
        loss, grad = kernels.current().softmax_cross_entropy(outputs, targets)
        if self.reduction == "sum":
            n = outputs.shape[0]
            loss, grad = loss * n, grad * grad.dtype.type(n)
        self._grad = grad
        return loss


def _check_pair(outputs, targets, where):
    """Outputs and float targets of the same shape and dtype."""
    outputs = check_array(outputs, "outputs", min_ndim=1, where=where)
    targets = check_array(targets, "targets", dtype=outputs.dtype, where=where)
    if targets.shape != outputs.shape:
        raise ValueError(f"{where}: targets: expected shape {outputs.shape} (as outputs), got {targets.shape}")
    if outputs.size == 0:
        raise ValueError(f"{where}: outputs: empty batch (shape {outputs.shape})")
    return outputs, targets


class MSELoss(Loss):
    """Mean (or sum) over all elements of ``(outputs - targets)^2``, as torch.nn.MSELoss."""

    def forward(self, outputs, targets):
        o, t = _check_pair(outputs, targets, "MSELoss.forward")
        d = o - t
        scale = 1.0 if self.reduction == "sum" else 1.0 / d.size
        self._grad = d * d.dtype.type(2 * scale)
        return float(np.dot(d.ravel().astype(np.float64), d.ravel().astype(np.float64)) * scale)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits, numerically stable, as torch.nn.BCEWithLogitsLoss:
    ``max(x, 0) - x * t + log(1 + exp(-|x|))`` per element, mean (or sum); the gradient is
    ``sigmoid(x) - t`` (divided by the element count for the mean). Targets in [0, 1]."""

    def forward(self, outputs, targets):
        x, t = _check_pair(outputs, targets, "BCEWithLogitsLoss.forward")
        if ((t < 0) | (t > 1)).any():
            raise ValueError("BCEWithLogitsLoss.forward: targets: expected values in [0, 1]")
        per = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        scale = 1.0 if self.reduction == "sum" else 1.0 / x.size
        sig = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
        self._grad = ((sig - t) * x.dtype.type(scale)).astype(x.dtype, copy=False)
        return float(per.astype(np.float64).sum() * scale)


class HingeLoss(Loss):
    """Multiclass SVM loss (cs231n, Weston-Watkins): per sample
    ``sum over j != y of max(0, s_j - s_y + margin)``, mean (or sum) over the batch.
    (torch.nn.MultiMarginLoss additionally divides each sample by the number of classes.)"""

    def __init__(self, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = check_real(margin, "margin", "HingeLoss", low=0)

    def forward(self, outputs, targets):
        where = "HingeLoss.forward"
        s = check_array(outputs, "outputs", ndim=2, where=where)
        n, c = s.shape
        if n == 0:
            raise ValueError(f"{where}: outputs: empty batch (shape {s.shape})")
        y = check_labels(targets, n, c, name="targets", where=where)
        rows = np.arange(n)
        margins = s - s[rows, y][:, None] + s.dtype.type(self.margin)
        margins[rows, y] = 0
        active = margins > 0
        scale = 1.0 if self.reduction == "sum" else 1.0 / n
        grad = active.astype(s.dtype)
        grad[rows, y] = -active.sum(axis=1)
        self._grad = grad * s.dtype.type(scale)
        return float(np.where(active, margins, 0).astype(np.float64).sum() * scale)
