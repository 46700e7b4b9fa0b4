"""Fuzz targets: nnx.load / load_header, the PNG reader and the IDX reader, fed mutated copies of
valid files. Each may return or raise ValueError/TypeError/OSError -- nothing else, no crash.

`make test` runs a short fixed budget (NNX_FUZZ_EXAMPLES, default 150 per target); `make fuzz`
runs many more. Inputs that once broke a reader are kept below as @example regressions.
"""
import gzip
import io
import os
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nnx
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


def test_the_seeds_are_valid(tmp_path):
    for name, reader in (("checkpoint", nnx.load), ("png", read_png),
                         ("idx", lambda p: nnx.io.read_idx(p, 3)), ("idx.gz", lambda p: nnx.io.read_idx(p, 3))):
        path = tmp_path / name
        path.write_bytes(SEEDS[name])
        assert reader(path) is not None
    with zipfile.ZipFile(io.BytesIO(SEEDS["checkpoint"])) as zf:
        assert "nnx.json" in zf.namelist()


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
