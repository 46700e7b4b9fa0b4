"""``python -m nnx predict`` on pictures of digits made the way people make them: a thin pen on a
1000x1000 white page, a thick marker, a phone photo of grey unevenly lit paper (PNG and JPEG),
a small light-on-dark image. MNIST's preprocessing (border background, 20x20 area-averaged box,
centre of mass) gets all 40 right with a one-epoch LeNet-5; the old bilinear stretch got 0 of the
10 thin-pen and 5 of the 10 photographed ones."""
import subprocess
import sys

import numpy as np
import pytest
from drawn_digits import draw, on_paper, photo

import nnx
from nnx import cli
from nnx.io.images import digit_to_input
from nnx.io.png import write_png

PICTURES = {  # name -> picture of digit d, greyscale in [0, 1]
    "thin_pen": lambda d: on_paper(draw(d, 1000, 0.008)),
    "marker": lambda d: on_paper(draw(d, 300, 0.08)),
    "photo": lambda d: photo(draw(d, 600, 0.02), seed=d),
    "small_light_on_dark": lambda d: draw(d, 40, 0.1, margin=0.1),
}


@pytest.fixture(scope="module")
def lenet(tmp_path_factory, mnist_root):
    path = tmp_path_factory.mktemp("lenet") / "lenet.npz"
    out = subprocess.run([sys.executable, "-m", "nnx", "train", "--model", "lenet5", "--data", "mnist",
                          "--epochs", "1", "--save", str(path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return path


def _predict(capsys, model, picture, *extra):
    assert cli.main(["predict", str(model), str(picture), *extra]) == 0
    out = capsys.readouterr().out
    return out, int(out.splitlines()[-1].split(": ")[1].split()[0])


@pytest.mark.parametrize("kind", PICTURES)
def test_predict_reads_drawn_and_photographed_digits(lenet, tmp_path, capsys, kind):
    got = []
    for d in range(10):
        path = tmp_path / f"{d}.png"
        write_png(path, PICTURES[kind](d))
        got.append(_predict(capsys, lenet, path)[1])
    assert got == list(range(10))


def test_photos_as_jpeg_through_pillow(lenet, tmp_path, capsys):
    image = pytest.importorskip("PIL.Image")
    got = []
    for d in range(10):
        path = tmp_path / f"{d}.jpg"
        image.fromarray(np.uint8(np.rint(PICTURES["photo"](d) * 255))).save(path, quality=80)
        got.append(_predict(capsys, lenet, path)[1])
    assert got == list(range(10))


def test_show_and_save_input_give_what_the_model_sees(lenet, tmp_path, capsys):
    write_png(tmp_path / "7.png", PICTURES["thin_pen"](7))
    out, digit = _predict(capsys, lenet, tmp_path / "7.png", "--show", "--save-input", str(tmp_path / "seen.png"))
    assert digit == 7
    seen = nnx.io.read_png(tmp_path / "seen.png")
    assert seen.shape == (28, 28)
    rows = out.splitlines()[1:29]
    assert len(rows) == 28 and all(len(r) == 56 for r in rows)
    assert [any(c != " " for c in r) for r in rows] == list(seen.any(axis=1))


def test_digit_is_boxed_and_centred_like_mnist():
    x = digit_to_input(on_paper(draw(1, 500, 0.02)), 28, 28)
    rows, cols = np.flatnonzero(x.any(axis=1)), np.flatnonzero(x.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 < 20  # the long side fills the box
    yy, xx = np.indices(x.shape)
    assert abs((yy * x).sum() / x.sum() - 13.5) <= 0.5 and abs((xx * x).sum() / x.sum() - 13.5) <= 0.5
    assert x.max() == 1.0 and x[0].max() == 0 and x[:, 0].max() == 0


def test_pictures_that_cannot_work_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no digit found"):
        digit_to_input(np.full((50, 50), 0.7), 28, 28)
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ValueError, match=r"pip install pillow"):
        nnx.io.images.read_image(tmp_path / "x.jpg")
