"""scikit-learn estimators around nnx models (needs ``pip install 'nnx[sklearn]'``).

``NNXClassifier`` and ``NNXRegressor`` take ``MLPClassifier``'s parameter names and defaults where
they exist, train with nnx's kernels (``nnx.fit``), and pass scikit-learn's estimator checks
(``parametrize_with_checks``) with no expected failures: input validation through
``validate_data``, deterministic for a fixed ``random_state``, any batch of samples predicted as
it would be within a larger batch (float64 inputs train a float64 model; float32 stays float32).

``module=`` replaces the built-in MLP by any nnx model: a callable ``module(input_shape,
n_outputs, rng=...)`` such as ``nnx.models.lenet5``, fed images as (N, 1, 28, 28) or, flattened,
reshaped through ``input_shape=``.

``precision="bf16"`` (or ``"bfloat16"``; default ``"fp32"``) trains and predicts under
``nnx.autocast("bfloat16")``: bf16 GEMM operands, float32 sums and master weights. autocast
leaves float64 alone, so with bf16 the model is float32 whatever X's dtype.
"""
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("nnx.sklearn needs scikit-learn: pip install 'nnx[sklearn]'") from None

from . import _config, kernels
from .layers import Linear, ReLU, Sigmoid, Tanh
from .losses import MSELoss, SoftmaxCrossEntropy
from .module import Module, Sequential
from .optim import make
from .precision import autocast, check_precision
from .train.callbacks import Callback
from .train.loop import fit as _fit
from .train.loop import predict as _predict

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "identity": None}
#: The most classes a classifier takes: the output layer is (last hidden width x classes), so a
#: column of ids passed as labels would otherwise allocate gigabytes before failing.
MAX_CLASSES = 1 << 16
_SOLVERS = ("adam", "sgd", "adamw", "rmsprop", "adagrad")


class _Plateau(Callback):
    """MLPClassifier's stopping rule: stop when the monitored value has not improved by ``tol``
    for ``patience`` epochs (training loss, or the validation score with early_stopping)."""

    def __init__(self, key, tol, patience, higher_is_better):
        self.key, self.tol, self.patience, self.sign = key, tol, patience, 1 if higher_is_better else -1
        self.best, self.wait = -np.inf, 0

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.sign * logs[self.key]
        if value > self.best + self.tol:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True


class _NNXBase(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", solver="adam", learning_rate_init=0.001,
                 momentum=0.9, batch_size=200, max_iter=200, early_stopping=False, validation_fraction=0.1,
                 random_state=None, warm_start=False, n_threads=None, module=None, input_shape=None,
                 precision="fp32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_threads = n_threads
        self.module = module
        self.input_shape = input_shape
        self.precision = precision

    # -- checks and building ----------------------------------------------------------------------
    def _check_params(self):
        name = type(self).__name__
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation: expected one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"{name}: solver: expected one of {_SOLVERS}, got {self.solver!r}")
        sizes = (self.hidden_layer_sizes,) if isinstance(self.hidden_layer_sizes, numbers.Integral) \
            else tuple(self.hidden_layer_sizes)
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
            raise ValueError(f"{name}: hidden_layer_sizes: expected positive integers, got {self.hidden_layer_sizes!r}")
        for key in ("max_iter",):
            if not isinstance(getattr(self, key), numbers.Integral) or getattr(self, key) < 1:
                raise ValueError(f"{name}: {key}: expected a positive integer, got {getattr(self, key)!r}")
        if self.batch_size != "auto" and not (isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1):
            raise ValueError(f"{name}: batch_size: expected a positive integer or 'auto', got {self.batch_size!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"{name}: validation_fraction: expected a number in (0, 1), "
                             f"got {self.validation_fraction!r}")
        if not (isinstance(self.learning_rate_init, numbers.Real) and self.learning_rate_init > 0):
            raise ValueError(f"{name}: learning_rate_init: expected a positive number, got {self.learning_rate_init!r}")
        check_precision(self.precision, name)
        return sizes

    def _shaped(self, X):
        """X as the model takes it: reshaped to ``input_shape`` when one is given."""
        if self.input_shape is None:
            return X
        shape = tuple(int(s) for s in self.input_shape)
        if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise ValueError(f"{type(self).__name__}: input_shape {shape} does not hold the {X.shape[1:]} "
                             "values of a sample")
        return X.reshape((len(X), *shape))

    def _build(self, X, n_out, rng):
        sizes = self._check_params()
        shape = X.shape[1:]
        seed = int(rng.randint(2**31 - 1))
        if self.module is not None:
            try:
                model = self.module(shape, n_out, rng=seed)
            except ValueError as exc:
                side = round(shape[0] ** 0.5) if len(shape) == 1 else 0
                if self.input_shape is None and side * side == shape[0]:  # flat images, as sklearn's digits
                    raise ValueError(f"{type(self).__name__}: {exc}; X has {shape[0]} features per sample: pass "
                                     f"input_shape=(1, {side}, {side}) to give the module images") from None
                raise
            if not isinstance(model, Module):
                raise TypeError(f"{type(self).__name__}: module: expected a callable returning an nnx Module, "
                                f"got {type(model).__name__}")
            return model
        if len(shape) != 1:
            raise ValueError(f"{type(self).__name__}: the built-in MLP takes 2-D X (samples, features); pass "
                             "module= for images")
        layers, width, act = [], shape[0], _ACTIVATIONS[self.activation]
        init = np.random.default_rng(seed)
        for h in sizes:
            layers.append(Linear(width, h, dtype=X.dtype, rng=init))
            if act is not None:
                layers.append(act())
            width = h
        layers.append(Linear(width, n_out, dtype=X.dtype, rng=init))
        return Sequential(*layers)

    def _optimizer(self):
        extra = {"momentum": self.momentum} if self.solver == "sgd" else {}
        return make(self.solver, self.model_.parameters(), lr=self.learning_rate_init, **extra)

    # -- training ---------------------------------------------------------------------------------
    def _bf16(self):
        return check_precision(self.precision, type(self).__name__) == "bf16"

    def _train(self, X, targets, epochs, first, validation):
        if validation and self.early_stopping:  # as scikit-learn: refused, not trained on 0 samples
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            if n_val >= len(X):
                raise ValueError(f"{type(self).__name__}: with n_samples={len(X)} and validation_fraction="
                                 f"{self.validation_fraction}, early_stopping leaves no sample to train on")
        rng = check_random_state(self.random_state) if first else self._rng
        if first and self._bf16():  # bf16 autocasts float32 models: float64 data trains one too
            X = X.astype(np.float32, copy=False)
        if first:
            self._rng = rng
            self.model_ = self._build(X, self._n_outputs(targets), rng)
            self._opt = self._optimizer()
            self.loss_curve_, self.n_iter_ = [], 0
        dtype = self._dtype()  # a module= model may be float32 whatever X is: feed it its own dtype
        X = X.astype(dtype, copy=False)
        if targets.dtype.kind == "f":
            targets = targets.astype(dtype, copy=False)
        batch = min(200, len(X)) if self.batch_size == "auto" else min(self.batch_size, len(X))
        val, callbacks = None, []
        if validation and self.early_stopping:
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            order = rng.permutation(len(X))
            val = (X[order[:n_val]], targets[order[:n_val]])
            X, targets = X[order[n_val:]], targets[order[n_val:]]
        if validation:
            key, better = ("val_" + self._score_key, True) if val is not None else ("loss", False)
            callbacks.append(_Plateau(key, 1e-4, 10, better))
        with _config.threads(self.n_threads):
            history = _fit(self.model_, self._loss(), self._opt, (X, targets), epochs=epochs, batch_size=batch,
                           val_data=val, seed=int(rng.randint(2**31 - 1)), progress=False, callbacks=callbacks,
                           precision=self.precision)
        self.loss_curve_ = list(self.loss_curve_) + [float(v) for v in history["loss"]]
        self.n_iter_ += len(history)
        return self

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], allow_nd=True)
        with _config.threads(self.n_threads), autocast("bfloat16", enabled=self._bf16()):
            return _predict(self.model_, self._shaped(X).astype(self._dtype(), copy=False)).astype(np.float64)

    def _dtype(self):
        """The dtype the model computes in (its parameters')."""
        return next(iter(self.model_.parameters())).data.dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _check_classes(classes, name, where):
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{name}: {where} holds {len(classes):,} distinct labels; at most {MAX_CLASSES:,} classes "
                         "are taken (a column of ids, or a regression target?)")
    return classes


class NNXClassifier(ClassifierMixin, _NNXBase):
    """A classifier trained by nnx: softmax cross-entropy over an MLP (``hidden_layer_sizes``,
    ``activation``) or any nnx model (``module=``). Parameters as ``sklearn.neural_network.
    MLPClassifier``; ``solver`` also takes nnx's ``adamw``, ``rmsprop`` and ``adagrad``.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, learning_rate_init, momentum : as MLPClassifier's
    batch_size, max_iter, early_stopping, validation_fraction, random_state, warm_start : as MLPClassifier's
    n_threads : int, optional
        Threads of nnx's kernels while fitting and predicting (default: nnx's count).
    module : callable, optional
        ``module(input_shape, n_classes, rng=seed)`` returning the nnx model to train instead of
        the MLP, e.g. ``nnx.models.lenet5``.
    input_shape : tuple, optional
        One sample as the module takes it: flat X (sklearn's (N, features)) is reshaped to it,
        e.g. ``input_shape=(1, 8, 8)`` for ``load_digits`` with ``module=nnx.models.lenet5``.
    precision : "fp32" (default, or "float32") or "bf16" (or "bfloat16")
        ``"bf16"`` trains and predicts under ``nnx.autocast("bfloat16")``.

    Attributes
    ----------
    classes_, n_features_in_, loss_curve_, n_iter_, model_ (the trained nnx model)
    """

    _score_key = "accuracy"

    def _loss(self):
        return SoftmaxCrossEntropy()

    def _n_outputs(self, targets):
        return len(self.classes_)

    def _encode(self, y):
        index = np.searchsorted(self.classes_, y)
        if np.any(index >= len(self.classes_)) or np.any(self.classes_[np.minimum(index, len(self.classes_) - 1)] != y):
            raise ValueError(f"{type(self).__name__}: y holds labels not in classes_ {list(self.classes_)}")
        return index.astype(np.int64)

    def fit(self, X, y):
        """Train for up to ``max_iter`` epochs (less when the loss stops improving)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], allow_nd=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        first = not (self.warm_start and hasattr(self, "model_"))
        if first:
            self.classes_ = _check_classes(np.unique(y), type(self).__name__, "y")
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__}: needs samples of at least 2 classes; got 1 class")
        return self._train(self._shaped(X), self._encode(y), self.max_iter, first, True)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); the first call needs ``classes`` (every label there will be)."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], allow_nd=True, reset=first)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError(f"{type(self).__name__}: the first partial_fit needs classes=")
            self.classes_ = _check_classes(np.unique(classes), type(self).__name__, "classes")
        return self._train(self._shaped(X), self._encode(y), 1, first, False)

    def predict_proba(self, X):
        """Class probabilities (softmax of the model's outputs), shape (n_samples, n_classes)."""
        return kernels.current().softmax(self._forward(X))

    def predict(self, X):
        """The predicted class of each sample (one of ``classes_``)."""
        scores = self._forward(X)  # first: NotFittedError before anything else
        return self.classes_[scores.argmax(axis=1)]


class NNXRegressor(RegressorMixin, _NNXBase):
    """A regressor trained by nnx: mean squared error over an MLP or any nnx model (``module=``);
    one or several targets. Parameters as ``sklearn.neural_network.MLPRegressor``, plus
    ``n_threads``, ``module``, ``input_shape`` and ``precision`` as ``NNXClassifier``'s.

    Attributes
    ----------
    n_features_in_, loss_curve_, n_iter_, model_ (the trained nnx model)
    """

    _score_key = "loss"

    def _loss(self):
        return MSELoss()

    def _n_outputs(self, targets):
        return targets.shape[1]

    def _targets(self, X, y):
        self._y_1d = y.ndim == 1 if not hasattr(self, "_y_1d") else self._y_1d
        return (y.reshape(-1, 1) if y.ndim == 1 else y).astype(X.dtype)

    def fit(self, X, y):
        """Train for up to ``max_iter`` epochs (less when the loss stops improving)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], allow_nd=True, multi_output=True,
                             y_numeric=True)
        first = not (self.warm_start and hasattr(self, "model_"))
        if first and hasattr(self, "_y_1d"):
            del self._y_1d
        return self._train(self._shaped(X), self._targets(X, y), self.max_iter, first, True)

    def partial_fit(self, X, y):
        """One epoch over (X, y)."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], allow_nd=True, multi_output=True,
                             y_numeric=True, reset=first)
        return self._train(self._shaped(X), self._targets(X, y), 1, first, False)

    def predict(self, X):
        """The predicted targets, shape (n_samples,) or (n_samples, n_targets) as y was."""
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


__all__ = ["MAX_CLASSES", "NNXClassifier", "NNXRegressor"]
