"""Turning an image file into a model input (what ``python -m nnx predict`` feeds the model)."""
import numpy as np

from .png import read_png


def _resize(img, h, w):
    """Bilinear resize of a (H0, W0) image (separable linear interpolation)."""
    h0, w0 = img.shape
    if (h0, w0) == (h, w):
        return img
    ys = (np.arange(h) + 0.5) * h0 / h - 0.5
    xs = (np.arange(w) + 0.5) * w0 / w - 0.5
    rows = np.stack([np.interp(xs, np.arange(w0), r) for r in img])
    return np.stack([np.interp(ys, np.arange(h0), c) for c in rows.T]).T


def png_to_input(path, shape, invert="auto"):
    """A PNG as a (1, 1, H, W) float32 model input for ``shape`` (C, H, W): greyscale (alpha
    composited over white), resized, inverted when dark ink on light paper (``invert``: auto,
    yes, no)."""
    img = read_png(path)
    if img.ndim == 3:
        if img.shape[2] in (2, 4):  # composite over white: a transparent background is paper
            alpha = img[..., -1:]
            img = img[..., :-1] * alpha + (1 - alpha)
        img = img.mean(axis=2) if img.shape[2] == 1 else img[..., :3] @ np.array([0.299, 0.587, 0.114])
    if shape[0] != 1:
        raise ValueError(f"{path}: the model expects {shape[0]}-channel images; PNG input is greyscale only")
    img = _resize(img, shape[1], shape[2])
    if invert == "yes" or (invert == "auto" and img.mean() > 0.5):
        img = 1.0 - img  # dark ink on light paper -> the light-on-dark digits the model learned
    return img[None, None].astype(np.float32)
