"""Hostile input: crafted files and arguments get a clear ValueError/TypeError (the same in every
tier), with memory and time bounded; nothing crashes, hangs or allocates what it should refuse."""
import faulthandler
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from helpers import TIERS

import nnx
from nnx.kernels import get_backend
from nnx.kernels._args import ConvCache

CASE_SECONDS = 30  # each case takes under 4 s here; a slow, loaded CI box gets headroom


@pytest.fixture(autouse=True)
def _time_bound():
    """Every case finishes within CASE_SECONDS; one stuck in C (where no Python exception can
    reach it) is killed with its stack printed instead of hanging the suite."""
    faulthandler.dump_traceback_later(4 * CASE_SECONDS, exit=True)
    start = time.perf_counter()
    yield
    faulthandler.cancel_dump_traceback_later()
    assert time.perf_counter() - start < CASE_SECONDS, "a hostile input took too long to refuse"


def _each_tier(call, exc, match):
    messages = set()
    for name in TIERS:
        with pytest.raises(exc, match=match) as info:
            call(get_backend(name))
        messages.add(str(info.value))
    assert len(messages) == 1, messages


# ---- kernels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("forge", ["out_hw", "smaller_x", "by_hand", "stride", "cols"])
def test_a_forged_conv_cache_is_refused_before_the_kernel_runs(forge, rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    dy = np.ones((2, 4, 6, 6), np.float32)
    for name in TIERS:
        k = get_backend(name)
        _, cache = k.conv2d_forward(x, w, None, 1, 0)
        if forge == "out_hw":
            cache.out_hw = (60, 60)
        elif forge == "smaller_x":
            cache.x = x[:1, :, :4, :4].copy()
        elif forge == "by_hand":
            cache = ConvCache(x[:, :, :2, :2].copy(), w, False, (1, 1), (0, 0), (6, 6))
        elif forge == "stride":
            cache.stride = (0, 1)
        else:
            cache.cols = np.zeros((3, 3), np.float32)
        with pytest.raises(ValueError, match="conv2d_backward"):
            k.conv2d_backward(dy, cache)


def test_gemm_out_overlapping_an_input_is_refused():
    a = np.ones((4, 4))
    _each_tier(lambda k: k.gemm(a, np.ones((4, 4)), out=a, beta=1.0), ValueError, "out: overlaps the input a")
    _each_tier(lambda k: k.gemm(np.ones((4, 4)), a, out=a), ValueError, "overlaps the input b")


def test_huge_geometry_is_a_value_error_in_every_tier():
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    _each_tier(lambda k: k.conv2d_forward(x, w, None, 1, 10**5), ValueError, "too large")
    _each_tier(lambda k: k.conv2d_forward(x, w, None, 2**31, 0), ValueError, r"stride: expected values in")
    _each_tier(lambda k: k.im2col(x, 3, 3, 1, 2**40), ValueError, "pad")


def test_optimizer_kernels_refuse_impossible_steps():
    p = np.zeros(3)
    _each_tier(lambda k: k.adam_update(p, p, p.copy(), p.copy(), 0.1, 0.9, 0.99, 1e-8, 0.0, 10**30),
               ValueError, "step")
    _each_tier(lambda k: k.adam_update(p, p, p.copy(), p.copy(), 0.1, 1.0, 0.99, 1e-8, 0.0, 1),
               ValueError, "beta1")
    _each_tier(lambda k: k.sgd_update(p, p, None, float("nan")), ValueError, "lr")


def test_thread_counts_are_bounded():
    before = nnx.get_num_threads()
    for bad in (10**9, 2**31, 1025):
        with pytest.raises(ValueError, match="at most 1024"):
            nnx.set_num_threads(bad)
    with pytest.raises(ValueError, match="at most 1024"):
        get_backend(TIERS[-1]).relu_forward(np.ones(3), n_threads=10**9)
    with pytest.warns(RuntimeWarning, match="usable CPUs"):
        nnx.set_num_threads(nnx._config._usable_cpus() + 1)
    nnx.set_num_threads(before)
    assert nnx.get_num_threads() == before


def test_maxpool_nan_windows_agree_across_tiers(rng):
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.4] = np.nan
    x[0, 0, :2, :3] = np.nan  # an all-NaN window
    ref = get_backend("loops").maxpool2d_forward(x, (2, 3), (1, 2))[1]
    for name in TIERS:
        np.testing.assert_array_equal(get_backend(name).maxpool2d_forward(x, (2, 3), (1, 2))[1], ref)


def test_one_module_twice_in_a_sequential_is_refused():
    relu = nnx.ReLU()
    with pytest.raises(ValueError, match="already in the Sequential"):
        nnx.Sequential(nnx.Linear(2, 2), relu, nnx.Linear(2, 2), relu)


def test_state_that_cannot_be_held_is_refused():
    m = nnx.Sequential(nnx.Linear(2, 3, rng=0), nnx.BatchNorm1d(3))
    sd = m.state_dict()
    sd["1.running_var"][1] = -1.0
    with pytest.raises(nnx.StateDictError, match="running_var"):
        m.load_state_dict(sd)
    assert (m[1].running_var == 1).all()  # nothing copied
    opt = nnx.optim.SGD(m.parameters(), lr=0.1)
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 0.1
    opt.param_groups[0]["lr"] = float("nan")  # set by hand: refused at the step, before any write
    with pytest.raises(ValueError, match="lr"):
        opt.step()


# ---- checkpoints -----------------------------------------------------------------------------
def _checkpoint(tmp_path, header=None, members=(), compression=zipfile.ZIP_STORED, raw=None):
    path = tmp_path / "x.npz"
    good = tmp_path / "good.npz"
    nnx.save({"w": np.zeros(3)}, good)
    with zipfile.ZipFile(good) as zf:
        base = {n: zf.read(n) for n in zf.namelist()}
    h = json.loads(base["nnx.json"])
    if header:
        h.update(header)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("nnx.json", raw if raw is not None else json.dumps(h))
        for n, data in base.items():
            if n != "nnx.json":
                zf.writestr(n, data)
        for n, data in members:
            zf.writestr(n, data)
    return path


def _peak_mb(code):
    """Run ``code`` in a fresh interpreter; return its peak RSS in MB. (VmHWM, which starts anew
    at exec; getrusage's ru_maxrss would carry over the forking pytest process's own peak.)"""
    script = textwrap.dedent(code) + (
        "\nprint([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1]) / 1024


def _lie_about_size(path, member, size):
    """Patch the uncompressed size a zip declares for ``member`` (local header and directory)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data[info.header_offset + 22:info.header_offset + 26] = size.to_bytes(4, "little")
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        n = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + n] == member.encode():
            data[at + 24:at + 28] = size.to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("member", ["a0.npy", "nnx.json"])
def test_a_deflate_bomb_is_cut_at_its_declared_size(tmp_path, member):
    good, path = tmp_path / "good.npz", tmp_path / "bomb.npz"
    nnx.save({"w": np.zeros(3)}, good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            real = src.read(name)
            dst.writestr(name, real + b" " * (300 << 20) if name == member else real)  # 300 MB
            if name == member:
                declared = len(real)
    _lie_about_size(path, member, declared)
    before = _peak_mb("import nnx")
    peak = _peak_mb(f"""
        import nnx
        try:
            nnx.load({str(path)!r})
        except ValueError as e:
            print(e)
        else:
            raise SystemExit("loaded a bomb")
    """)
    assert peak - before < 60, (before, peak)


def test_bad_members_and_headers_are_refused(tmp_path):
    cases = [
        (dict(members=[("a0.npy", b"x")]), "duplicate member names"),
        (dict(compression=zipfile.ZIP_BZIP2), "stored/deflate"),
        (dict(header={"format_version": -5}), "format_version"),
        (dict(header={"arrays": {"a0": {"dtype": "<f8", "shape": "3"}}}), "list of at most 32 ints"),
        (dict(header={"arrays": {"a0": {"dtype": "<f8", "shape": [float("inf")]}}}), "unreadable header|ints"),
        (dict(raw='{"format": "nnx", "format_version": 1, "arrays": {}, "tree": ' + "[" * 5000 + "]" * 5000 + "}"),
         "deeper than|unreadable"),
        (dict(raw='{"format": "nnx", "format_version": 1, "arrays": {}, "tree": ' + "[" * 100 + "]" * 100 + "}"),
         "deeper than"),
    ]
    for kw, match in cases:
        path = _checkpoint(tmp_path, **kw)
        with pytest.raises(ValueError, match=match):
            nnx.load(path)
    with pytest.raises(TypeError, match="path"):
        nnx.load(b"model.npz")


# ---- IDX ---------------------------------------------------------------------------------------
def test_idx_headers_that_lie_are_refused(tmp_path):
    huge = tmp_path / "huge.gz"
    huge.write_bytes(gzip.compress((2051).to_bytes(4, "big") + (2**32 - 1).to_bytes(4, "big") * 3))
    with pytest.raises(ValueError, match="more than"):
        nnx.io.read_idx(huge, 3)
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress((2049).to_bytes(4, "big") + (10).to_bytes(4, "big") + b"\0" * (200 << 20)))
    before = _peak_mb("import nnx")
    peak = _peak_mb(f"""
        import nnx
        try:
            nnx.io.read_idx({str(bomb)!r}, 1)
        except ValueError as e:
            assert "holds more" in str(e), e
    """)
    assert peak - before < 30, (before, peak)
    with pytest.raises(ValueError, match="ndim"):
        nnx.io.read_idx(bomb, 2)


def test_an_explicit_mnist_root_is_the_only_place_looked_at(tmp_path, monkeypatch):
    monkeypatch.setenv("NNX_DATA_DIR", os.environ.get("NNX_DATA_DIR", str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "empty")):
        nnx.datasets.load_mnist(root=tmp_path / "empty")


# ---- the command line ------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "nnx", *args], capture_output=True, text=True, timeout=120)


def test_cli_prints_one_clean_line_for_hostile_metadata(tmp_path):
    model = nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 10, rng=0))
    evil = tmp_path / "evil.npz"
    nnx.save(model, evil, metadata={"input_shape": [1, 8, 8], "classes": [f"\x1b[31m{i}\x07" for i in range(10)]})
    out = _cli("evaluate", str(evil), "--data", "digits")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "?[31m" in out.stdout
    for meta in ({"input_shape": "23"}, {"normalize": [0, float("inf")]}, {"classes": 5}):
        bad = tmp_path / "bad.npz"
        nnx.save(model, bad, metadata=meta) if "normalize" not in meta else _raw_meta(model, bad, meta)
        out = _cli("evaluate", str(bad), "--data", "digits")
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert out.stderr.startswith("nnx: error: ") and "metadata" in out.stderr
    out = _cli("evaluate", str(tmp_path / "missing.npz"), "--data", "digits")
    assert out.returncode == 1 and out.stderr.count("\n") == 1


def _raw_meta(model, path, meta):
    """Save, then write ``meta`` (which may hold non-finite numbers) into the header as is."""
    nnx.save(model, path)
    _edit_header(path, lambda h: h.update(metadata=meta))


def _edit_header(path, edit, out=None):
    """Rewrite the checkpoint ``path`` (to ``out``, default in place) with ``edit(header)``
    applied to its JSON header, every other member as it was: a forged file."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = json.loads(members["nnx.json"])
    edit(header)
    members["nnx.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(out or path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


# ---- PNG -------------------------------------------------------------------------------------
def _png(tmp_path, width, height, raw, ihdr=None):
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    body = ihdr if ihdr is not None else struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", body) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))
    return path


def test_png_headers_and_data_that_lie_are_refused(tmp_path):
    from nnx.io.png import read_png
    with pytest.raises(ValueError, match="empty or too large"):
        read_png(_png(tmp_path, 0, 5, b""))
    with pytest.raises(ValueError, match="malformed PNG header"):
        read_png(_png(tmp_path, 1, 1, b"\0\0", ihdr=b"\0" * 5))
    bomb = _png(tmp_path, 4, 4, b"\0" * (200 << 20))  # 200 MB of rows for a 4x4 image
    before = _peak_mb("import nnx")
    peak = _peak_mb(f"""
        from nnx.io.png import read_png
        try:
            read_png({str(bomb)!r})
        except ValueError as e:
            assert "expected 20" in str(e), e
    """)
    assert peak - before < 30, (before, peak)


def test_a_large_paeth_png_decodes_in_bounded_time_and_memory(tmp_path):
    # 1024x1024 16-bit RGBA, every row Paeth-filtered: 8 MB of noise, ~10 s when it went byte by byte
    import struct

    from nnx.io.png import read_png
    rows = np.random.default_rng(0).integers(0, 256, (1024, 1024 * 8 + 1), dtype=np.uint8)
    rows[:, 0] = 4
    path = _png(tmp_path, 0, 0, rows.tobytes(), ihdr=struct.pack(">IIBBBBB", 1024, 1024, 16, 6, 0, 0, 0))
    before = _peak_mb("import nnx")
    peak = _peak_mb(f"""
        import time
        from nnx.io.png import read_png
        t = time.perf_counter()
        assert read_png({str(path)!r}).shape == (1024, 1024, 4)
        assert time.perf_counter() - t < 5, time.perf_counter() - t  # ~0.3 s here; 5 s on a slow CI box
    """)
    assert peak - before < 5 * 32 + 10, (before, peak)  # the decoded float64 image is 32 MB
    with pytest.raises(ValueError, match="at most 16384 per side"):
        read_png(_png(tmp_path, 0, 0, b"", ihdr=struct.pack(">IIBBBBB", 1 << 15, 1, 8, 0, 0, 0, 0)))


def test_an_architecture_bigger_than_its_arrays_is_refused_before_it_is_built(tmp_path):
    path, forged = tmp_path / "small.npz", tmp_path / "forged.npz"
    nnx.save(nnx.Sequential(nnx.Linear(4, 4, rng=0)), path)

    def linear_config(header):
        return header["tree"]["__module__"]["arch"]["config"]["modules"][0]["config"]
    _edit_header(path, lambda h: linear_config(h).update(in_features=4096, out_features=4096), forged)
    assert forged.stat().st_size < 2000
    before = _peak_mb("import nnx, nnx.io")  # the same modules imported: only the load itself is measured
    peak = _peak_mb(f"""
        import nnx, nnx.io
        try:
            nnx.load({str(forged)!r})
        except ValueError as e:
            assert "needs 16781312" in str(e), e
        else:
            raise SystemExit("built it")
    """)
    # building it would take 64 MB (4096 x 4096 float32); ASan's shadow memory adds ~20 MB of noise
    assert peak - before < 32, (before, peak)
    _edit_header(forged, lambda h: linear_config(h).update(in_features="4096"))
    with pytest.raises(ValueError, match="in_features"):
        nnx.load(forged)


def test_cli_predict_on_a_missing_image_says_so_in_one_line(tmp_path):
    model = tmp_path / "m.npz"
    nnx.save(nnx.Sequential(nnx.Flatten(), nnx.Linear(64, 10, rng=0)), model, metadata={"input_shape": [1, 8, 8]})
    out = _cli("predict", str(model), str(tmp_path / "missing.png"))
    assert out.returncode == 1 and out.stderr == f"nnx: error: {tmp_path / 'missing.png'}: no such file\n"
