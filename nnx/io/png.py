"""A small PNG reader and writer (zlib only), so ``python -m nnx predict digit.png`` needs no
imaging library.

Reads non-interlaced PNGs of bit depth 8 or 16 (grey, grey+alpha, RGB, RGBA) and 8-bit
palette images; returns a float64 array in [0, 1] of shape (H, W) (grey) or (H, W, C).
Anything else raises ``ValueError`` naming the file and what is unsupported.
"""
import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


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


def _unfilter(raw, height, stride, bpp, path):
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    pos = 0
    for y in range(height):
        ftype = raw[pos]
        line = np.frombuffer(raw, np.uint8, stride, pos + 1).astype(np.int32)
        pos += stride + 1
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        elif ftype in (1, 3, 4):  # depend on the reconstructed left neighbour: go byte by byte
            cur = line.copy()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                if ftype == 1:
                    pred = left
                elif ftype == 3:
                    pred = (left + prev[i]) >> 1
                else:
                    up, ul = prev[i], (prev[i - bpp] if i >= bpp else 0)
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                cur[i] = (cur[i] + pred) & 0xFF
        else:
            raise ValueError(f"{path}: bad PNG filter type {ftype} in row {y}")
        out[y] = cur
        prev = cur
    return out


def read_png(path):
    """Decode ``path``; return floats in [0, 1], shape (H, W) or (H, W, C)."""
    with open(path, "rb") as f:
        data = f.read()
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
    if width * height > 1 << 26 or width == 0 or height == 0:
        raise ValueError(f"{path}: image of {width}x{height} pixels is empty or too large (at most 2**26)")
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

    with open(path, "wb") as f:
        f.write(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
