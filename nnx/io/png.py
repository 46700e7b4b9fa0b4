"""A small PNG reader and writer (zlib only), so ``python -m nnx predict digit.png`` needs no
imaging library.

Reads non-interlaced PNGs of bit depth 8 or 16 (grey, grey+alpha, RGB, RGBA) and 8-bit
palette images; returns a float64 array in [0, 1] of shape (H, W) (grey) or (H, W, C).
Anything else raises ``ValueError`` naming the file and what is unsupported.
"""
import struct
import zlib

import numpy as np

from .atomic import atomic_write
from .reading import read_regular

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
MAX_SIDE, MAX_PIXELS, MAX_FILE = 1 << 14, 1 << 24, 1 << 28  # images and files beyond are refused


def _chunks(data, path):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError(f"{path}: truncated PNG chunk {kind!r}")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"{path}: corrupt PNG chunk {kind!r} (CRC mismatch)")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError(f"{path}: truncated PNG (no IEND chunk)")


def _paeth(a, b, c):
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


# predictor of each filter type from the left, upper and upper-left neighbours (PNG spec 9.2)
_PREDICT = {0: lambda a, b, c: 0, 1: lambda a, b, c: a, 2: lambda a, b, c: b,
            3: lambda a, b, c: (a + b) >> 1, 4: _paeth}


def _skewed(s, rows, width, bpp):
    """The view of skew array ``s`` whose element [i, x] is pixel (i, x) of a band: pixel (i, x)
    lives at s[i + x + 2, i + 1], so each anti-diagonal i + x = d is one contiguous run of s[d + 2]."""
    item = s.itemsize
    return np.lib.stride_tricks.as_strided(s[2:, 1:], shape=(rows, width, bpp), writeable=True,
                                           strides=((rows + 2) * bpp * item, (rows + 1) * bpp * item, item))


def _unfilter(raw, height, stride, bpp, path):
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth), vectorised.

    A pixel depends on its left, upper and upper-left neighbours once they are decoded, so the
    pixels of one anti-diagonal are independent: the image is decoded one diagonal at a time
    (height + width NumPy steps instead of a Python step per byte), in bands of min(height, width)
    rows laid out skewed so every diagonal is contiguous (memory ~2x the image).
    """
    width = stride // bpp
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    kinds, data = rows[:, 0], rows[:, 1:].reshape(height, width, bpp)
    if kinds.max() > 4:
        y = int(np.argmax(kinds > 4))
        raise ValueError(f"{path}: bad PNG filter type {kinds[y]} in row {y}")
    out = np.empty((height, width, bpp), np.uint8)
    band, prev = min(height, width), np.zeros((width, bpp), np.int16)
    for r0 in range(0, height, band):
        n = min(band, height - r0)
        s = np.zeros((n + width + 1, n + 1, bpp), np.int16)  # decoded; row 0 of the band's column 0 = prev
        f = np.zeros_like(s)
        _skewed(f, n, width, bpp)[...] = data[r0:r0 + n]
        s[1:width + 1, 0] = prev
        masks = {int(k): (kinds[r0:r0 + n] == k)[:, None] for k in np.unique(kinds[r0:r0 + n])}
        for d in range(2, n + width + 1):
            lo, hi = max(0, d - 1 - width), min(n, d - 1)
            a, b, c = s[d - 1, lo + 1:hi + 1], s[d - 1, lo:hi], s[d - 2, lo:hi]
            if len(masks) == 1:
                pred = _PREDICT[next(iter(masks))](a, b, c)
            else:
                pred = np.zeros_like(a)
                for kind, m in masks.items():
                    np.copyto(pred, _PREDICT[kind](a, b, c), where=m[lo:hi])
            np.bitwise_and(f[d, lo + 1:hi + 1] + pred, 0xFF, out=s[d, lo + 1:hi + 1])
        out[r0:r0 + n] = _skewed(s, n, width, bpp)
        prev = out[r0 + n - 1].astype(np.int16)
    return out.reshape(height, stride)


def read_png(path):
    """Decode ``path``; return floats in [0, 1], shape (H, W) or (H, W, C)."""
    data = read_regular(path, "read_png", "PNG file", MAX_FILE)
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    header, idat, palette = None, [], None
    for kind, body in _chunks(data, path):
        if kind == b"IHDR":
            if len(body) != 13:
                raise ValueError(f"{path}: malformed PNG header (IHDR of {len(body)} bytes, expected 13)")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"PLTE":
            if len(body) % 3 or not body:
                raise ValueError(f"{path}: malformed PNG palette ({len(body)} bytes)")
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
    if header is None or not idat:
        raise ValueError(f"{path}: PNG without IHDR or IDAT")
    width, height, depth, color, _, _, interlace = header
    if color not in _CHANNELS or interlace != 0 or depth not in (8, 16) or (color == 3 and depth != 8):
        raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour type {color}, interlace "
                         f"{interlace}); save it as 8-bit greyscale or RGB without interlacing")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and width * height <= MAX_PIXELS):
        raise ValueError(f"{path}: image of {width}x{height} pixels is empty or too large (at most "
                         f"{MAX_SIDE} per side and {MAX_PIXELS} pixels)")
    channels = _CHANNELS[color]
    bpp = channels * depth // 8
    stride = width * bpp
    expect = height * (stride + 1)
    try:  # inflate no more than the header implies (+1 byte to notice more): no zlib bomb
        raw = zlib.decompressobj().decompress(b"".join(idat), expect + 1)
    except zlib.error as exc:
        raise ValueError(f"{path}: corrupt PNG image data ({exc})") from None
    if len(raw) != expect:
        raise ValueError(f"{path}: PNG image data holds {len(raw)} bytes, expected {height * (stride + 1)}")
    rows = _unfilter(raw, height, stride, bpp, path)
    if depth == 16:
        img = rows.reshape(height, width, channels, 2).astype(np.uint16)
        img = ((img[..., 0] << 8) | img[..., 1]) / 65535.0
    else:
        img = rows.reshape(height, width, channels) / 255.0
    if color == 3:
        if palette is None:
            raise ValueError(f"{path}: palette PNG without a PLTE chunk")
        index = rows.reshape(height, width)
        if index.max() >= len(palette):
            raise ValueError(f"{path}: palette index out of range")
        img = palette[index] / 255.0
    return img[..., 0] if img.shape[-1] == 1 else img


def write_png(path, image):
    """Write a (H, W) greyscale image of floats in [0, 1] (or uint8) as an 8-bit PNG."""
    a = np.asarray(image)
    if a.ndim != 2:
        raise ValueError(f"write_png: image: expected (H, W), got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
    h, w = a.shape
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with atomic_write(path) as f:
        f.write(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
