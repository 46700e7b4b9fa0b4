"""nnx.plot writes real, non-empty PNG files (matplotlib is a test dependency)."""
import sys

import numpy as np
import pytest

import nnx
from nnx import plot

mpl_image = pytest.importorskip("matplotlib.image")


@pytest.fixture(scope="module")
def trained():
    X, y, Xt, yt = nnx.datasets.load_digits()
    model = nnx.Sequential(nnx.Conv2d(1, 6, 3, padding=1, rng=0), nnx.ReLU(), nnx.Flatten(),
                           nnx.Linear(384, 10, rng=1))
    opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    h = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=2, val_data=(Xt, yt), progress=False, seed=0)
    return model, h, Xt, yt, nnx.predict(model, Xt)


def _check_png(path, min_w=200, min_h=200):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    img = mpl_image.imread(path)
    assert img.shape[0] >= min_h and img.shape[1] >= min_w
    assert img[..., :3].std() > 0.01  # something was drawn, not a blank canvas


def test_history_plot(tmp_path, trained):
    _, h, _, _, _ = trained
    out = plot.plot_history(h, tmp_path / "sub" / "curves.png", title="digits")
    assert out == str(tmp_path / "sub" / "curves.png")
    _check_png(out, min_w=1000)  # three panels: loss, accuracy, lr


def test_confusion_matrix_plot(tmp_path, trained):
    _, _, _, yt, scores = trained
    cm = nnx.metrics.confusion_matrix(yt, scores, num_classes=10)
    _check_png(plot.plot_confusion_matrix(cm, tmp_path / "cm.png"))
    _check_png(plot.plot_confusion_matrix(cm, tmp_path / "cmn.png", normalize=True, class_names=list("abcdefghij")))


def test_filters_plot(tmp_path, trained):
    model, _, _, _, _ = trained
    _check_png(plot.plot_filters(model[0], tmp_path / "filters.png"), min_w=100, min_h=100)
    rgb = np.random.default_rng(0).standard_normal((8, 3, 5, 5))
    _check_png(plot.plot_filters(rgb, tmp_path / "rgb.png"), min_w=100, min_h=100)


def test_misclassified_plot(tmp_path, trained):
    _, _, Xt, yt, scores = trained
    assert (scores.argmax(1) != yt).any()
    _check_png(plot.plot_misclassified(Xt, yt, scores, tmp_path / "wrong.png", max_images=10), min_w=150)
    _check_png(plot.plot_misclassified(Xt[:3], yt[:3], yt[:3], tmp_path / "none.png"), min_w=100, min_h=100)


@pytest.mark.parametrize("call, match", [
    (lambda p: plot.plot_history({"loss": [1]}, p), "History"),
    (lambda p: plot.plot_history(nnx.History(), p), "no completed epoch"),
    (lambda p: plot.plot_confusion_matrix(np.zeros((2, 3)), p), "square"),
    (lambda p: plot.plot_confusion_matrix(np.eye(2), p, class_names=["a"]), "class_names"),
    (lambda p: plot.plot_filters(np.zeros((2, 3)), p), "weights"),
    (lambda p: plot.plot_misclassified(np.zeros((2, 5)), [0, 1], [0, 1], p), "images"),
    (lambda p: plot.plot_misclassified(np.zeros((2, 4, 4)), [0], [0, 1], p), "labels"),
    (lambda p: plot.plot_confusion_matrix(np.eye(2), str(p).replace(".png", ".jpg")), "png"),
])
def test_bad_input(tmp_path, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(tmp_path / "x.png")


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"nnx\[plot\]"):
        plot.plot_confusion_matrix(np.eye(2), tmp_path / "x.png")


def test_one_epoch_curves_have_whole_epoch_ticks(tmp_path, monkeypatch):
    import matplotlib.figure
    saved = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: saved.append(fig) or str(path))
    h = nnx.History({})
    h.append({"epoch": 1, "loss": 0.5, "accuracy": 0.8, "lr": 0.1})
    plot.plot_history(h, tmp_path / "one.png")
    fig, = saved
    assert isinstance(fig, matplotlib.figure.Figure)
    assert all(list(ax.get_xticks()) == [1] for ax in fig.axes)


def test_report_shows_the_raw_images_it_is_given(tmp_path, trained, monkeypatch):
    model, h, Xt, yt, _ = trained
    shown = []
    monkeypatch.setattr(plot, "plot_misclassified", lambda images, *a, **k: shown.append(images) or "x.png")
    standardised = (Xt - Xt.mean()) / Xt.std()
    plot.plot_report(tmp_path, None, model, standardised, yt, images=Xt)
    assert shown[0] is Xt
