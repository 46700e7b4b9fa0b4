"""Fuzz targets: every reader of a file (nnx.load / load_header, PNG, IDX, pictures through
Pillow, safetensors, ONNX), fed mutated copies of valid files and structural attacks (nesting
bombs, declared sizes that lie). Each may return or raise ValueError/TypeError/OSError --
nothing else (no RecursionError, MemoryError, library exception), no crash.

`make test` runs a short fixed budget (NNX_FUZZ_EXAMPLES, default 150 per target); `make fuzz`
runs many more. Inputs that once broke a reader are kept below as @example regressions.
"""
import gzip
import importlib.util
import io
import json
import os
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nnx
from nnx.io.images import image_to_input
from nnx.io.png import read_png, write_png

BUDGET = settings(max_examples=int(os.environ.get("NNX_FUZZ_EXAMPLES", "150")), deadline=None, derandomize=
                  not os.environ.get("NNX_FUZZ_RANDOM"), suppress_health_check=[HealthCheck.too_slow],
                  database=None)
ALLOWED = (ValueError, TypeError, OSError)


def _written(name, write):
    """The bytes ``write(path)`` puts in a temporary file called ``name``."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        write(path)
        with open(path, "rb") as f:
            return f.read()


_MODEL = nnx.Sequential(nnx.Conv2d(1, 2, 3, rng=0), nnx.ReLU(), nnx.Flatten(), nnx.Linear(8, 3, rng=1))
SEEDS = {"checkpoint": _written("m.npz", lambda p: nnx.save({"model": _MODEL, "epoch": 3, "w": np.arange(5.0)}, p)),
         "png": _written("x.png", lambda p: write_png(p, np.linspace(0, 1, 64).reshape(8, 8))),
         "idx": (2051).to_bytes(4, "big") + (2).to_bytes(4, "big") * 3 + bytes(range(8))}
SEEDS["idx.gz"] = gzip.compress(SEEDS["idx"])
HAVE = {name: importlib.util.find_spec(name) is not None for name in ("safetensors", "onnx", "PIL")}
if HAVE["safetensors"]:
    SEEDS["safetensors"] = _written("m.safetensors", lambda p: nnx.io.save_safetensors(_MODEL, p))
if HAVE["onnx"]:
    SEEDS["onnx"] = _written("m.onnx", lambda p: nnx.onnx.export(_MODEL.eval(), p, (1, 4, 4)))
if HAVE["PIL"]:
    from PIL import Image
    _jpeg = io.BytesIO()
    _digit = np.kron(nnx.datasets.load_digits()[0][0, 0], np.ones((4, 4)))  # a real digit, 32x32
    Image.fromarray((255 * (1 - _digit)).astype(np.uint8)).save(_jpeg, "JPEG")
    SEEDS["jpeg"] = _jpeg.getvalue()


def _safetensors(header, payload=b""):
    """A safetensors file whose JSON header is ``header`` (bytes), declared at its true length."""
    return len(header).to_bytes(8, "little") + header + payload


NESTED = "[" * 100_000 + "]" * 100_000  # decoding it recursively overflows the stack: RecursionError once
# Any JSON value: a header of the wrong types and shapes everywhere (numbers for names, lists for
# shapes, huge integers for offsets and sizes).
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=12) | st.sampled_from(["F32", "I64", "U8", "dtype", "shape", "data_offsets"]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["w", "b", "dtype", "shape", "data_offsets", "__metadata__", "x"]), inner,
                        max_size=4), max_leaves=20)


@st.composite
def mutated(draw, seed):
    """A copy of ``seed`` with a few bytes overwritten, a span deleted or duplicated, or cut."""
    data = bytearray(SEEDS[seed])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "cut", "dup", "trunc"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "dup":
            data[i:i] = data[i:i + draw(st.integers(1, 64))]
        else:
            del data[i:]
    return bytes(data)


def _run(tmp_path, name, data, reader):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        reader(path)
    except ALLOWED:
        pass


def _patched_first_entry(offset, value):
    """The seed checkpoint with one 2-byte field of its first central-directory entry replaced
    (the fields that once raised NotImplementedError/RuntimeError from inside zipfile)."""
    data = bytearray(SEEDS["checkpoint"])
    at = data.find(b"PK\x01\x02")
    data[at + offset:at + offset + 2] = value.to_bytes(2, "little")
    return bytes(data)


@BUDGET
@given(data=mutated("checkpoint"))
@example(data=_patched_first_entry(6, 64))     # "zip file version 6.4"
@example(data=_patched_first_entry(8, 0x01))   # encrypted member
@example(data=_patched_first_entry(8, 0x20))   # "compressed patched data"
@example(data=_patched_first_entry(8, 0x40))   # "strong encryption"
def test_fuzz_checkpoint(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    _run(tmp, "m.npz", data, nnx.load)
    _run(tmp, "m.npz", data, nnx.load_header)


@BUDGET
@given(data=mutated("png"))
@example(data=SEEDS["png"][:16] + b"\x00\x00\x00\x05IHDR" + b"\x00" * 9)  # IHDR of 5 bytes (struct.error once)
def test_fuzz_png(tmp_path_factory, data):
    _run(tmp_path_factory.mktemp("fuzz"), "x.png", data, read_png)


@BUDGET
@given(data=st.one_of(mutated("idx"), mutated("idx.gz")), ndim=st.sampled_from([1, 3]))
def test_fuzz_idx(tmp_path_factory, data, ndim):
    _run(tmp_path_factory.mktemp("fuzz"), "x.idx", data, lambda p: nnx.io.read_idx(p, ndim))


def _skip_without(lib):
    if not HAVE[lib]:
        pytest.skip(f"needs {lib} (NNX_TEST_EXTRAS=1)")


@BUDGET
@given(data=st.one_of(mutated("safetensors") if HAVE["safetensors"] else st.just(b""),
                      st.integers(1, 200_000).map(lambda d: _safetensors(("[" * d + "]" * d).encode())),
                      st.integers(0, 2**64 - 1).map(lambda n: n.to_bytes(8, "little") + b"{}"),
                      st.tuples(JSON, st.binary(max_size=64)).map(
                          lambda hp: _safetensors(json.dumps(hp[0]).encode(), hp[1]))))
@example(data=_safetensors(NESTED.encode()))                                   # RecursionError once
@example(data=_safetensors(json.dumps({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 4]}}).encode(),
                           b"\0" * 4))                                          # a shape that lies
def test_fuzz_safetensors(tmp_path_factory, data):
    _skip_without("safetensors")
    _run(tmp_path_factory.mktemp("fuzz"), "m.safetensors", data, nnx.io.load_safetensors)


@BUDGET
@given(data=mutated("onnx") if HAVE["onnx"] else st.just(b""))
def test_fuzz_onnx(tmp_path_factory, data):
    _skip_without("onnx")
    _run(tmp_path_factory.mktemp("fuzz"), "m.onnx", data, nnx.onnx.load)


@BUDGET
@given(data=mutated("jpeg") if HAVE["PIL"] else st.just(b""))
def test_fuzz_picture(tmp_path_factory, data):
    _skip_without("PIL")
    _run(tmp_path_factory.mktemp("fuzz"), "x.jpg", data, lambda p: image_to_input(p, (1, 28, 28)))


@BUDGET
@given(tree=JSON, metadata=JSON, arrays=JSON)
def test_fuzz_checkpoint_header_types(tmp_path_factory, tree, metadata, arrays):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("nnx.json", json.dumps({"format": "nnx", "format_version": 1, "arrays": arrays, "tree": tree,
                                            "metadata": metadata}))
        npy = io.BytesIO()
        np.lib.format.write_array(npy, np.zeros(2))
        zf.writestr("a0.npy", npy.getvalue())
    _run(tmp_path_factory.mktemp("fuzz"), "m.npz", buf.getvalue(), nnx.io.load_with_header)


@BUDGET
@given(depth=st.integers(1, 200_000))
def test_fuzz_checkpoint_header_nesting(tmp_path_factory, depth):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("nnx.json", '{"format": "nnx", "format_version": 1, "arrays": {}, "tree": '
                    + "[" * depth + "]" * depth + "}")
    _run(tmp_path_factory.mktemp("fuzz"), "m.npz", buf.getvalue(), nnx.load)


def test_the_seeds_are_valid(tmp_path):
    for name, reader in (("checkpoint", nnx.load), ("png", read_png),
                         ("idx", lambda p: nnx.io.read_idx(p, 3)), ("idx.gz", lambda p: nnx.io.read_idx(p, 3))):
        path = tmp_path / name
        path.write_bytes(SEEDS[name])
        assert reader(path) is not None
    for name, reader in (("safetensors", nnx.io.load_safetensors), ("onnx", lambda p: nnx.onnx.load(p)),
                         ("jpeg", lambda p: image_to_input(p, (1, 28, 28)))):
        if name in SEEDS:
            path = tmp_path / name
            path.write_bytes(SEEDS[name])
            assert reader(path) is not None
    with zipfile.ZipFile(io.BytesIO(SEEDS["checkpoint"])) as zf:
        assert "nnx.json" in zf.namelist()


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
