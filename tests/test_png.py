"""The small PNG codec behind ``python -m nnx predict``, checked against Pillow."""
import numpy as np
import pytest

from nnx.io.png import read_png, write_png

Image = pytest.importorskip("PIL.Image")  # comes with matplotlib, a test dependency


@pytest.fixture
def pixels():
    rng = np.random.default_rng(0)
    smooth = np.add.outer(np.arange(23), np.arange(17)) * 5 % 256  # filters Sub/Up/Avg/Paeth get used
    noise = rng.integers(0, 256, (23, 17))
    return np.where(noise % 3 == 0, noise, smooth).astype(np.uint8)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16"])
def test_matches_pillow(tmp_path, pixels, mode):
    rgb = np.stack([pixels, pixels[::-1], 255 - pixels], axis=-1)
    if mode == "L":
        img = Image.fromarray(pixels, "L")
    elif mode == "LA":
        img = Image.fromarray(np.stack([pixels, 255 - pixels], -1), "LA")
    elif mode == "RGB":
        img = Image.fromarray(rgb, "RGB")
    elif mode == "RGBA":
        img = Image.fromarray(np.concatenate([rgb, pixels[..., None]], -1), "RGBA")
    elif mode == "P":
        img = Image.fromarray(rgb, "RGB").quantize(32)
    else:
        img = Image.fromarray(pixels.astype(np.uint16) * 257)  # 16-bit greyscale
    path = tmp_path / f"{mode.replace(';', '')}.png"
    img.save(path, optimize=True)
    ours = read_png(path)
    ref = np.asarray(img.convert("RGB") if mode == "P" else img, dtype=np.float64)
    ref = ref / (65535.0 if mode == "I;16" else 255.0)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_write_then_read(tmp_path, pixels):
    write_png(tmp_path / "g.png", pixels)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), pixels)
    np.testing.assert_allclose(read_png(tmp_path / "g.png"), pixels / 255.0)


def test_bad_files(tmp_path, pixels):
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a PNG"):
        read_png(tmp_path / "a.png")
    write_png(tmp_path / "g.png", pixels)
    data = (tmp_path / "g.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_png(tmp_path / "cut.png")
    flipped = bytearray(data)
    flipped[40] ^= 0xFF
    (tmp_path / "crc.png").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="CRC|corrupt"):
        read_png(tmp_path / "crc.png")
    Image.fromarray(pixels, "L").save(tmp_path / "i.png", interlace=1)
    if Image.open(tmp_path / "i.png").info.get("interlace"):
        with pytest.raises(ValueError, match="unsupported"):
            read_png(tmp_path / "i.png")


def _unfilter_bytewise(raw, height, stride, bpp):
    """The PNG spec's filter reversal, one byte at a time: the reference for the vectorised one."""
    out, prev, pos = [], [0] * stride, 0
    for _ in range(height):
        kind, cur = raw[pos], list(raw[pos + 1:pos + 1 + stride])
        pos += stride + 1
        for i in range(stride):
            a, b = (cur[i - bpp] if i >= bpp else 0), prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)  # |p - a| etc. for p = a + b - c
            paeth = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (cur[i] + (0, a, b, (a + b) >> 1, paeth)[kind]) & 0xFF
        out.append(cur)
        prev = cur
    return np.array(out, np.uint8).reshape(height, stride)


@pytest.mark.parametrize("bpp", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("kinds", [(0, 1, 2, 3, 4), (4,), (3,), (1, 2)])
def test_vectorised_unfilter_matches_the_bytewise_spec(bpp, kinds):
    from nnx.io.png import _unfilter
    rng = np.random.default_rng(bpp)
    for height, width in [(1, 1), (3, 7), (9, 2), (5, 5), (20, 3), (1, 9), (9, 1)]:
        rows = rng.integers(0, 256, (height, width * bpp + 1), dtype=np.uint8)
        rows[:, 0] = rng.choice(kinds, height)
        raw = rows.tobytes()
        np.testing.assert_array_equal(_unfilter(raw, height, width * bpp, bpp, "x.png"),
                                      _unfilter_bytewise(raw, height, width * bpp, bpp))


def test_bad_filter_type_is_named(tmp_path):
    import struct
    import zlib
    body = struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)
    chunks = [(b"IHDR", body), (b"IDAT", zlib.compress(b"\x00\x01\x02\x07\x03\x04")), (b"IEND", b"")]
    (tmp_path / "f.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b)) for k, b in chunks))
    with pytest.raises(ValueError, match="bad PNG filter type 7 in row 1"):
        read_png(tmp_path / "f.png")
