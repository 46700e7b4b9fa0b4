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
