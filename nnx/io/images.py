"""Turning a picture of a digit into a model input, the way MNIST was made (what
``python -m nnx predict`` feeds the model).

MNIST's recipe (LeCun et al.): the digit's bounding box is resized, aspect ratio kept, into a 20x20
box with area averaging (anti-aliasing, so thin strokes do not vanish between sample points), then
placed in the 28x28 frame so that its centre of mass is the centre. Before that, a photo or a
scan is turned into light ink on a dark background: the background level is read from the border
pixels (robust to a digit covering most of the page), and strokes thinner than MNIST's are
thickened at a 4x finer grid so a thin pen reads like the pens the model learned from.
"""
import numpy as np

from .png import MAX_PIXELS, SIGNATURE, read_png
from .reading import open_regular

_STROKE = 2.5 / 28  # MNIST's typical pen width, as a fraction of the frame
_SUPER = 4          # supersampling of the stroke-width correction


def read_image(path):
    """A picture as greyscale floats in [0, 1], shape (H, W) (alpha composited over white paper).
    PNG is read by nnx itself; JPEG, BMP, GIF, TIFF, ... need Pillow."""
    f, _ = open_regular(path, "read_image", "picture")
    with f:
        head = f.read(8)
    if head == SIGNATURE:
        img = read_png(path)
    else:
        img = _read_with_pillow(path)
    if img.ndim == 3:
        if img.shape[2] in (2, 4):  # a transparent background is paper
            alpha = img[..., -1:]
            img = img[..., :-1] * alpha + (1 - alpha)
        img = img[..., 0] if img.shape[2] == 1 else img[..., :3] @ np.array([0.299, 0.587, 0.114])
    return img


def _read_with_pillow(path):
    try:
        from PIL import Image
    except ImportError:
        raise ValueError(f"{path}: not a PNG file; reading JPEG and other formats needs Pillow "
                         "(pip install pillow)") from None
    f, _ = open_regular(path, "read_image", "picture")
    try:
        with f, Image.open(f) as im:
            if im.width * im.height > MAX_PIXELS:  # checked before anything is decoded
                raise ValueError(f"{path}: image of {im.width}x{im.height} pixels is too large "
                                 f"(at most {MAX_PIXELS})")
            return np.asarray(im.convert("LA"), np.float64) / 255.0
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not an image nnx or Pillow can read ({exc})") from None


def _area_weights(n_in, n_out):
    """(n_out, n_in) matrix averaging each output cell over the input cells it covers."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    j = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
    return np.clip(overlap, 0, None) / (n_in / n_out)


def _resize_area(img, h, w):
    return _area_weights(img.shape[0], h) @ img @ _area_weights(img.shape[1], w).T


def _dilate(img, r):
    """Grey-level dilation by a (2r+1)^2 square (max of shifted copies, rows then columns)."""
    for axis in (0, 1):
        padded = np.pad(img, [(r, r) if a == axis else (0, 0) for a in (0, 1)])
        img = np.max([np.take(padded, range(k, k + img.shape[axis]), axis=axis) for k in range(2 * r + 1)], axis=0)
    return img


def _stroke_width(ink):
    """Pen width in pixels: area over half the perimeter of the inked region."""
    on = ink > 0.5
    p = np.pad(on, 1)
    edge = on & ~(p[2:, 1:-1] & p[:-2, 1:-1] & p[1:-1, 2:] & p[1:-1, :-2])
    return 2 * on.sum() / max(edge.sum(), 1)


def digit_to_input(img, height, width, invert="auto", path="image"):
    """A greyscale picture (H, W) in [0, 1] -> an MNIST-style (height, width) image in [0, 1]:
    light ink on black, the digit resized into a box of 20/28 of the frame (the whole frame for
    frames under 20 pixels), centred by centre of mass. ``invert``: auto (from the border), yes, no."""
    h, w = img.shape
    edge = np.zeros((h, w), bool)
    edge[[0, -1]], edge[:, [0, -1]] = True, True
    if invert == "yes" or (invert == "auto" and np.median(img[edge]) > 0.5):
        img = 1.0 - img
    # the paper's level as a plane fitted to the border (a photo is lit unevenly), then removed
    yy, xx = np.indices((h, w)) / max(h, w)
    design = np.stack([np.ones(edge.sum()), yy[edge], xx[edge]], axis=1)
    a, b, c = np.linalg.lstsq(design, img[edge], rcond=None)[0]
    ink = img - (a + b * yy + c * xx)
    peak = float(np.percentile(ink, 99.5)) if ink.size > 400 else float(ink.max())
    if peak < 0.05:
        raise ValueError(f"{path}: no digit found (the picture is uniform)")
    ink = np.clip(ink / peak, 0, 1)
    ink[ink < 0.25] = 0  # paper texture, shadows, JPEG noise
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box = round(height * 20 / 28) if height >= 20 else height
    scale = box / max(ink.shape)
    bh, bw = max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))
    fine = _resize_area(ink, bh * _SUPER, bw * _SUPER)
    want = _STROKE * height * _SUPER
    have = _stroke_width(fine)
    if have < want:  # a thin pen: thicken at the fine grid, then average down
        fine = _dilate(fine, int(round((want - have) / 2)))
    digit = fine.reshape(bh, _SUPER, bw, _SUPER).mean(axis=(1, 3))
    digit /= max(digit.max(), 1e-12)
    out = np.zeros((height, width))
    yy, xx = np.indices(digit.shape)
    mass = digit.sum()
    cy, cx = (yy * digit).sum() / mass, (xx * digit).sum() / mass
    top = int(np.clip(round((height - 1) / 2 - cy), 0, height - bh))
    left = int(np.clip(round((width - 1) / 2 - cx), 0, width - bw))
    out[top:top + bh, left:left + bw] = digit[:height - top, :width - left]
    return out


def image_to_input(path, shape, invert="auto"):
    """The picture at ``path`` as a (1, C, H, W) float32 input in [0, 1] for ``shape`` (C, H, W),
    C = 1 (the MNIST-style digit of :func:`digit_to_input`)."""
    if shape[0] != 1:
        raise ValueError(f"{path}: the model expects {shape[0]}-channel images; picture input is greyscale only")
    img = digit_to_input(read_image(path), shape[1], shape[2], invert, path)
    return img[None, None].astype(np.float32)
