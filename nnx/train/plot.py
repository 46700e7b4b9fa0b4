"""Pictures of training: curves, confusion matrix, first-layer filters, misclassified digits.

Needs matplotlib (``pip install nnx[plot]``). Every function draws on its own ``Figure`` with
the Agg canvas (no pyplot state, no display needed), saves a PNG to ``path`` and returns it.
"""
import os

import numpy as np

from ..io.atomic import atomic_write


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("nnx.plot needs matplotlib: pip install 'nnx[plot]' (or matplotlib)") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"nnx.plot: path: expected a .png file name, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_write(path) as f:  # a reader never sees half a picture
        fig.savefig(f, format="png")
    return path


def _as_images(images, where):
    """(N, H, W) grayscale from (N, 1, H, W), (N, H, W) or (N, H*W) with a square H*W."""
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim == 3:
        return a
    if a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        if side * side == a.shape[1]:
            return a.reshape(-1, side, side)
    raise ValueError(f"{where}: images: expected (N, 1, H, W), (N, H, W) or (N, H*W) with a square "
                     f"image, got shape {a.shape}")


def _epoch_ticks(epochs):
    step = max(1, int(np.ceil(len(epochs) / 10)))
    return list(epochs)[::step]


def plot_history(history, path, title=None):
    """Loss and accuracy per epoch (training and validation) and the learning rate, from a History."""
    from .loop import History
    if not isinstance(history, History):
        raise TypeError(f"plot_history: history: expected an nnx.History, got {type(history).__name__}")
    if not len(history):
        raise ValueError("plot_history: history: no completed epoch to plot")
    h = history.history
    panels = [("loss", ["loss", "val_loss"]), ("accuracy", ["accuracy", "val_accuracy"]), ("learning rate", ["lr"])]
    panels = [(name, [k for k in keys if k in h]) for name, keys in panels]
    panels = [(name, keys) for name, keys in panels if keys]
    fig = _figure(4.2 * len(panels), 3.4)
    epochs = h["epoch"]
    for i, (name, keys) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for k in keys:
            ax.plot(epochs, h[k], marker="o", ms=3, label="validation" if k.startswith("val_") else "training")
        ax.set_xlabel("epoch")
        ax.set_xticks(_epoch_ticks(epochs))  # whole epochs only (one epoch used to get ticks 0.96-1.04)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(cm, path, class_names=None, normalize=False, title="confusion matrix"):
    """A (C, C) confusion matrix (rows true, columns predicted) as a heat map with counts."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: cm: expected a square (C, C) matrix, got shape {cm.shape}")
    c = cm.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise ValueError(f"plot_confusion_matrix: class_names: expected {c} names, got {len(names)}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.45 * c + 2)
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if c <= 30:
        hi = shown.max() if shown.size else 0
        for i in range(c):
            for j in range(c):
                text = f"{shown[i, j]:.2f}" if normalize else str(int(shown[i, j]))
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > hi / 2 else "black")
    ax.set_xticks(range(c), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_filters(weights, path, title="first-layer filters"):
    """A grid of conv filters: a Conv2d (its weight) or an array (OC, C, kh, kw).

    One tile per output channel; with C == 3 the tile is an RGB image, otherwise the mean over
    input channels. Each tile is scaled to its own range, so shapes, not magnitudes, are shown.
    """
    w = getattr(getattr(weights, "weight", None), "data", weights)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: weights: expected a Conv2d or an (OC, C, kh, kw) array, got shape {w.shape}")
    n = w.shape[0]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = _figure(1.3 * cols + 0.4, 1.3 * rows + 0.6)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        tile = w[i].transpose(1, 2, 0) if w.shape[1] == 3 else w[i].mean(axis=0)
        lo, hi = tile.min(), tile.max()
        tile = (tile - lo) / (hi - lo) if hi > lo else np.zeros_like(tile)
        ax.imshow(tile, cmap=None if w.shape[1] == 3 else "gray", interpolation="nearest")
        ax.set_axis_off()
    fig.suptitle(title)
    return _save(fig, path)


def plot_misclassified(images, y_true, y_pred, path, max_images=25, class_names=None, title="misclassified"):
    """A grid of the first ``max_images`` images whose prediction is wrong, titled true -> predicted.

    ``y_pred`` may be class indices or (N, C) scores. Writes a figure saying "no errors" when
    every prediction is right.
    """
    imgs = _as_images(images, "plot_misclassified")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    if not (len(imgs) == len(y_true) == len(y_pred)):
        raise ValueError(f"plot_misclassified: expected as many labels as images, got {len(imgs)} images, "
                         f"{len(y_true)} y_true, {len(y_pred)} y_pred")
    wrong = np.flatnonzero(y_true != y_pred)[:max_images]
    names = (lambda k: str(class_names[k])) if class_names is not None else str
    cols = max(1, min(5, len(wrong)))
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig = _figure(1.6 * cols + 0.4, 1.8 * rows + 0.6)
    if not len(wrong):
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no errors", ha="center", va="center")
        ax.set_axis_off()
    for i, k in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(imgs[k], cmap="gray", interpolation="nearest")
        ax.set_title(f"{names(int(y_true[k]))} -> {names(int(y_pred[k]))}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"{title} ({int(np.sum(y_true != y_pred))} of {len(y_true)})")
    return _save(fig, path)


def plot_report(folder, history=None, model=None, x=None, y=None, class_names=None, images=None):
    """Write every picture that applies into ``folder``; return the paths.

    ``curves.png`` (from ``history``), and with ``model``, ``x``, ``y`` (test data):
    ``confusion.png``, ``misclassified.png`` and, when the first layer has image filters (a
    Conv2d: ``Module.filters``), ``filters.png``. ``images``: what ``misclassified.png`` shows
    for each sample, when ``x`` is not a picture (standardised pixels look like noise; pass the
    raw images). The examples' and the CLI's ``--plots DIR``.
    """
    from .loop import predict
    from .metrics import confusion_matrix
    paths = []
    if history is not None and len(history):
        paths.append(plot_history(history, os.path.join(folder, "curves.png")))
    if model is not None and x is not None and y is not None:
        scores = predict(model, x)
        cm = confusion_matrix(y, scores, num_classes=scores.shape[1])
        paths.append(plot_confusion_matrix(cm, os.path.join(folder, "confusion.png"), class_names=class_names))
        paths.append(plot_misclassified(x if images is None else images, y, scores,
                                        os.path.join(folder, "misclassified.png"),
                                        class_names=class_names))
        weights = model.filters()  # the first layer's, when it has image-like filters (a convolution)
        if weights is not None:
            paths.append(plot_filters(weights, os.path.join(folder, "filters.png")))
    return paths


__all__ = ["plot_confusion_matrix", "plot_filters", "plot_history", "plot_misclassified", "plot_report"]
