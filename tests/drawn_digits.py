"""Pictures of handwritten-style digits for the ``predict`` tests, drawn with NumPy: each digit is
a few pen strokes (lines and arcs in a unit square), rendered at any size and pen width, as dark
ink on white paper, or as a "photo" (uneven grey paper, soft ink, noise)."""
import numpy as np


def _arc(cx, cy, rx, ry, a0, a1, n=40):
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t), strict=True))


STROKES = {  # x to the right, y down; angles in degrees, clockwise on screen
    0: [_arc(0.5, 0.5, 0.28, 0.44, 0, 360)],
    1: [[(0.42, 0.15), (0.55, 0.05), (0.55, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 180, 360) + [(0.8, 0.32), (0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.5, 0.27, 0.27, 0.22, 200, 450), _arc(0.5, 0.71, 0.3, 0.24, 270, 520)],
    4: [[(0.65, 0.95), (0.65, 0.05), (0.15, 0.65), (0.85, 0.65)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.27, 0.45)] + _arc(0.5, 0.68, 0.3, 0.27, 235, 510)],
    6: [[(0.7, 0.05), (0.28, 0.55)], _arc(0.5, 0.7, 0.25, 0.25, 0, 360)],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.22, 0.22, 0, 360), _arc(0.5, 0.72, 0.27, 0.24, 0, 360)],
    9: [_arc(0.5, 0.3, 0.25, 0.25, 0, 360), [(0.75, 0.3), (0.7, 0.95)]],
}


def draw(digit, size=1000, pen=0.01, margin=0.15):
    """Ink coverage in [0, 1], shape (size, size): the digit's strokes with a pen ``pen`` wide
    (fraction of the picture), inside a ``margin`` of empty paper."""
    yy, xx = (np.indices((size, size)) + 0.5) / size
    dist = np.full((size, size), np.inf)
    for stroke in STROKES[digit]:
        pts = np.array(stroke) * (1 - 2 * margin) + margin
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
            dx, dy = x1 - x0, y1 - y0
            t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
            dist = np.minimum(dist, np.hypot(xx - x0 - t * dx, yy - y0 - t * dy))
    return np.clip((pen / 2 - dist) * size + 0.5, 0, 1)  # one pixel of anti-aliasing


def on_paper(ink):
    """Black ink on white paper."""
    return 1.0 - ink


def photo(ink, seed=0):
    """Like a phone photo of the page: grey, unevenly lit paper, soft grey ink, sensor noise."""
    rng = np.random.default_rng(seed)
    h, w = ink.shape
    light = 0.78 + 0.12 * np.linspace(-1, 1, w)[None, :] * np.linspace(0.5, 1, h)[:, None]
    page = light * (1 - 0.7 * ink) + rng.normal(0, 0.03, ink.shape)
    return np.clip(page, 0, 1)
