"""Loss functions: ``loss = crit.forward(outputs, targets)`` returns a Python float and
``crit.backward()`` returns the gradient w.r.t. ``outputs``."""

from . import _config
from ._validation import check_real
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

    def backward(self, grad_out=1.0):
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
        loss, grad = _config.kernels().softmax_cross_entropy(outputs, targets)
        if self.reduction == "sum":
            n = outputs.shape[0]
            loss, grad = loss * n, grad * grad.dtype.type(n)
        self._grad = grad
        return loss
