"""nnx.save / nnx.load: round trips, atomic writes, and files that must be refused."""
import importlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import nnx
from nnx.io import checkpoint as serialization


def _every_layer(dtype=np.float32):
    """One Sequential holding every rebuildable built-in layer type, for (2, 2, 6, 6) input."""
    return nnx.Sequential(
        nnx.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(1, 0), dtype=dtype, rng=1),
        nnx.BatchNorm2d(3, eps=1e-3, momentum=0.2, dtype=dtype),
        nnx.LeakyReLU(0.2), nnx.ELU(0.5),
        nnx.MaxPool2d(2, stride=1), nnx.AvgPool2d((1, 2)),
        nnx.Flatten(),
        nnx.Linear(15, 8, bias=False, dtype=dtype, rng=2), nnx.BatchNorm1d(8, affine=False, dtype=dtype),
        nnx.Sigmoid(), nnx.Maxout(8, 6, 3, dtype=dtype, rng=3), nnx.Tanh(), nnx.Dropout(0.25),
        nnx.Linear(6, 4, dtype=dtype, rng=4), nnx.ReLU(),
    )


def _x(dtype=np.float32):
    return np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(dtype)


def _train_once(model, x):
    """One training-mode forward/backward so BatchNorm running statistics are non-trivial."""
    model.train()
    y = model(x)
    model.backward(np.ones_like(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_layer_round_trip(tmp_path, dtype):
    model = _every_layer(dtype)
    _train_once(model, _x(dtype))
    model.eval()
    path = tmp_path / "model.npz"
    nnx.save(model, path)
    back = nnx.load(path)
    assert type(back) is nnx.Sequential and repr(back) == repr(model)
    assert not back.training
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert k1 == k2 and v1.dtype == v2.dtype and np.array_equal(v1, v2), k1
    np.testing.assert_array_equal(back(_x(dtype)), model(_x(dtype)))
    assert nnx.load_header(path)["kind"] == "module"


def test_training_mode_is_kept(tmp_path):
    model = nnx.Sequential(nnx.Linear(3, 2))
    nnx.save(model, tmp_path / "m.npz")
    assert nnx.load(tmp_path / "m.npz").training


def test_graph_round_trip(tmp_path):
    g = nnx.Graph()
    x = g.input("x")
    h = g.node("fc1", nnx.Linear(4, 4, rng=0), x)
    r = g.node("relu", nnx.ReLU(), h)
    s = g.node("sum", nnx.Add(), r, x)
    g.output(g.node("head", nnx.Linear(4, 2, rng=1), s))
    nnx.save(g, tmp_path / "g.npz")
    back = nnx.load(tmp_path / "g.npz")
    assert isinstance(back, nnx.Graph)
    xs = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(back(xs), g(xs))
    assert [k for k, _ in back.named_parameters()] == ["fc1.weight", "fc1.bias", "head.weight", "head.bias"]


def test_state_dict_round_trip_keeps_order_dtype_and_scalars(tmp_path):
    model = _every_layer()
    sd = model.state_dict()
    nnx.save(sd, tmp_path / "sd.npz")
    back = nnx.load(tmp_path / "sd.npz")
    assert isinstance(back, OrderedDict) and list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape
        np.testing.assert_array_equal(back[k], sd[k])
    assert back["1.num_batches_tracked"].shape == ()
    fresh = _every_layer()
    fresh.load_state_dict(back)


class Custom(nnx.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nnx.Linear(n, 2, rng=0)

    def forward(self, x):
        return self.fc(x)


def test_custom_module_loads_as_state_dict(tmp_path):
    model = Custom(3)
    nnx.save(model, tmp_path / "c.npz")
    back = nnx.load(tmp_path / "c.npz")
    assert isinstance(back, OrderedDict) and list(back) == ["fc.weight", "fc.bias"]
    other = Custom(3)
    other.fc.weight.data[...] = 0
    other.load_state_dict(back)
    np.testing.assert_array_equal(other.fc.weight.data, model.fc.weight.data)


def test_load_state_dict_accepts_a_loaded_model(tmp_path):
    model = nnx.Sequential(nnx.Linear(3, 2, rng=0))
    nnx.save(model, tmp_path / "m.npz")
    other = nnx.Sequential(nnx.Linear(3, 2, rng=1))
    other.load_state_dict(nnx.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)


def test_nested_objects_round_trip(tmp_path):
    obj = {"epoch": 3, "lr": 0.5, "name": "run", "flags": [True, None], "pair": (1, 2.5),
           "inf": float("inf"), 7: "int key", "__dunder": 1, "scalar": np.float32(1.5),
           "arr": np.arange(6, dtype=np.int16).reshape(2, 3)[:, ::2]}
    nnx.save(obj, tmp_path / "o.npz")
    back = nnx.load(tmp_path / "o.npz")
    assert back["epoch"] == 3 and back["pair"] == (1, 2.5) and back["flags"] == [True, None]
    assert back[7] == "int key" and back["__dunder"] == 1 and back["inf"] == float("inf")
    assert type(back["scalar"]) is np.float32 and back["scalar"] == 1.5
    np.testing.assert_array_equal(back["arr"], obj["arr"])


def test_file_is_an_ordinary_npz(tmp_path):
    model = nnx.Sequential(nnx.Linear(3, 2, rng=0))
    nnx.save(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        header = json.loads(bytes(z["nnx.json"]))
        arrays = [z[name] for name in header["arrays"]]
    assert header["format"] == "nnx" and header["format_version"] == serialization.FORMAT_VERSION
    assert header["nnx_version"] == nnx.__version__
    np.testing.assert_array_equal(arrays[0], model[0].weight.data)


def test_metadata_round_trip_and_validation(tmp_path):
    nnx.save({"w": np.zeros(2)}, tmp_path / "m.npz", metadata={"input_shape": [1, 8, 8]})
    assert nnx.load_header(tmp_path / "m.npz")["metadata"] == {"input_shape": [1, 8, 8]}
    with pytest.raises(TypeError, match="metadata"):
        nnx.save({"w": np.zeros(2)}, tmp_path / "x.npz", metadata={"f": object()})
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("bad", [object(), {"a": object()}, {(1, 2): 3}, np.array([object()])])
def test_unsupported_objects_are_refused_before_writing(tmp_path, bad):
    path = tmp_path / "m.npz"
    nnx.save({"w": np.ones(2)}, path)
    with pytest.raises(TypeError):
        nnx.save(bad, path)
    np.testing.assert_array_equal(nnx.load(path)["w"], np.ones(2))
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adamw", "adagrad", "rmsprop"])
def test_optimizer_state_resumes_bit_for_bit(tmp_path, opt_name):
    def make():
        model = nnx.Sequential(nnx.Linear(6, 5, rng=0), nnx.ReLU(), nnx.Linear(5, 3, rng=1))
        params = model.parameters()
        opt = {"sgd": lambda: nnx.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
               "adam": lambda: nnx.optim.Adam(params, lr=0.01),
               "adamw": lambda: nnx.optim.AdamW(params, lr=0.01, weight_decay=0.1),
               "adagrad": lambda: nnx.optim.Adagrad(params, lr=0.1),
               "rmsprop": lambda: nnx.optim.RMSprop(params, lr=0.01, momentum=0.5)}[opt_name]()
        return model, opt

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)) for _ in range(10)]
    loss = nnx.SoftmaxCrossEntropy()

    def steps(model, opt, bs):
        for x, y in bs:
            opt.zero_grad()
            loss.forward(model(x), y)
            model.backward(loss.backward())
            opt.step()

    model, opt = make()
    steps(model, opt, batches[:5])
    nnx.save({"model": model, "optimizer": opt}, tmp_path / "ck.npz")
    steps(model, opt, batches[5:])

    ck = nnx.load(tmp_path / "ck.npz")
    model2, opt2 = make()
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    steps(model2, opt2, batches[5:])
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert np.array_equal(a, b), k


def test_load_state_dict_errors_name_key_and_shapes(tmp_path):
    nnx.save(nnx.Sequential(nnx.Linear(3, 2)).state_dict(), tmp_path / "sd.npz")
    sd = nnx.load(tmp_path / "sd.npz")
    with pytest.raises(ValueError, match=r"0\.weight.*\(4, 3\).*\(2, 3\)"):
        nnx.Sequential(nnx.Linear(3, 4)).load_state_dict(sd)
    result = nnx.Sequential(nnx.Linear(3, 2), nnx.Linear(2, 2)).load_state_dict(
        {**sd, "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["1.weight", "1.bias"] and result.unexpected_keys == ["extra"]


# -- atomicity ------------------------------------------------------------------------------------
def test_failure_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    nnx.save({"w": np.ones(3)}, path)
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real_write(*args, **kwargs)

    real_write = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        nnx.save({"a": np.zeros(3), "b": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(nnx.load(path)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["m.npz"]


def test_killed_during_save_old_checkpoint_still_loads(tmp_path):
    """A child process is SIGKILLed while it is writing the second array of a new checkpoint."""
    path = tmp_path / "ck.npz"
    nnx.save({"w": np.full(1000, 7.0)}, path)
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        import nnx
        real = np.lib.format.write_array
        calls = []
        def slow(*args, **kwargs):
            calls.append(1)
            real(*args, **kwargs)
            if len(calls) == 1:
                print("mid-write", flush=True)
                time.sleep(60)
        np.lib.format.write_array = slow
        nnx.save({{"w": np.zeros(1_000_000), "v": np.zeros(1_000_000)}}, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mid-write"
        temps = [n for n in os.listdir(tmp_path) if n != "ck.npz"]
        assert temps and all(n.startswith(".ck.npz.tmp-") for n in temps)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    back = nnx.load(path)
    np.testing.assert_array_equal(back["w"], np.full(1000, 7.0))
    assert len(os.listdir(tmp_path)) == 2  # the killed writer's temporary file, until the next save
    nnx.save({"w": np.full(10, 8.0)}, path)
    assert os.listdir(tmp_path) == ["ck.npz"]  # its writer is gone: removed


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    path = tmp_path / "m.npz"
    live = tmp_path / f".m.npz.tmp-{os.getppid()}-abcd"  # a process that runs (our parent)
    live.write_bytes(b"partial")
    nnx.save({"w": np.ones(3)}, path)
    assert live.exists()


# -- refusing bad files ---------------------------------------------------------------------------
def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy_bytes(a, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _header(arrays, tree, **extra):
    h = {"format": "nnx", "format_version": 1, "nnx_version": "0", "kind": "object",
         "arrays": arrays, "tree": tree, "metadata": {}}
    h.update(extra)
    return json.dumps(h).encode()


class _Boom:
    """Unpickling this would create a marker file: proof that something was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("declared", ["|O", "<f8"])
def test_pickled_object_array_is_refused_without_executing(tmp_path, declared):
    marker = tmp_path / "executed"
    evil = np.array([_Boom(str(marker))], dtype=object)
    path = tmp_path / "evil.npz"
    _write_zip(path, {"nnx.json": _header({"a0": {"dtype": declared, "shape": [1]}}, {"__array__": "a0"}),
                      "a0.npy": _npy_bytes(evil, allow_pickle=True)})
    with pytest.raises(ValueError, match="a0"):
        nnx.load(path)
    assert not marker.exists()
    # the attack works against pickle itself (so the test above means something)
    pickle.loads(pickle.dumps(_Boom(str(marker))))
    assert marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    with pytest.raises(ValueError, match="not an nnx checkpoint"):
        nnx.load(path)


@pytest.mark.parametrize("content", [b"", b"hello world", b"\x93NUMPY garbage", b"PK\x03\x04 truncated"])
def test_wrong_magic_or_garbage_is_refused(tmp_path, content):
    path = tmp_path / "f.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        nnx.load(path)


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not an nnx checkpoint"):
        nnx.load(tmp_path / "plain.npz")
    _write_zip(tmp_path / "other.npz", {"nnx.json": json.dumps({"format": "keras"}).encode()})
    with pytest.raises(ValueError, match="not an nnx checkpoint"):
        nnx.load(tmp_path / "other.npz")


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    nnx.save(_every_layer(), path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 30, len(data) // 2, 200, 10):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            nnx.load(bad)


def test_flipped_byte_in_array_data_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    nnx.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    pos = data.find(np.arange(1000.0)[500:501].tobytes())
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt|CRC"):
        nnx.load(path)


def test_future_version_is_refused(tmp_path):
    path = tmp_path / "f.npz"
    _write_zip(path, {"nnx.json": _header({}, None, format_version=99, nnx_version="9.0")})
    with pytest.raises(ValueError, match="format version 99.*upgrade"):
        nnx.load(path)


def test_huge_declared_shape_is_refused_without_allocating(tmp_path):
    huge = [10**6, 10**6]  # 4 TB of float32
    npy = _npy_bytes(np.zeros(4, np.float32)).replace(b"(4,)", b"(1000000, 1000000)")
    path = tmp_path / "huge.npz"
    _write_zip(path, {"nnx.json": _header({"a0": {"dtype": "<f4", "shape": huge}}, {"__array__": "a0"}),
                      "a0.npy": npy})
    with pytest.raises(ValueError, match="truncated or forged"):
        nnx.load(path)


def test_header_and_npy_disagreeing_is_refused(tmp_path):
    path = tmp_path / "f.npz"
    _write_zip(path, {"nnx.json": _header({"a0": {"dtype": "<f4", "shape": [2]}}, {"__array__": "a0"}),
                      "a0.npy": _npy_bytes(np.zeros(1, np.float64))})
    with pytest.raises(ValueError, match="a0"):
        nnx.load(path)


def test_dangling_reference_and_unknown_layer_are_refused(tmp_path):
    path = tmp_path / "f.npz"
    _write_zip(path, {"nnx.json": _header({}, {"__array__": "a9"})})
    with pytest.raises(ValueError, match="missing array"):
        nnx.load(path)
    arch = {"type": "os.system", "config": {}}
    _write_zip(path, {"nnx.json": _header({}, {"__module__": {"arch": arch, "state": {}}})})
    with pytest.raises(ValueError, match="unknown layer type"):
        nnx.load(path)
    arch = {"type": "Linear", "config": {"in_features": 2, "out_features": 2, "evil": 1}}
    _write_zip(path, {"nnx.json": _header({}, {"__module__": {"arch": arch, "state": {}}})})
    with pytest.raises(ValueError, match="Linear"):
        nnx.load(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nnx.load(tmp_path / "nope.npz")


def test_containers_and_layers_rebuild_from_their_config(rng):
    from nnx.module import architecture, from_architecture
    model = nnx.Sequential(nnx.Conv2d(1, 2, 3, rng=0), nnx.ReLU(), nnx.Flatten(), nnx.Linear(8, 3, rng=1))
    arch = architecture(model)
    assert arch["type"] == "Sequential" and arch["config"]["modules"][0]["type"] == "Conv2d"
    again = from_architecture(arch)
    again.load_state_dict(model.state_dict())
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model(x))
    # a file written before containers had get_config: their fields sat beside "type"
    old = {"type": "Sequential", "modules": [{"type": "Linear", "config": {"in_features": 2, "out_features": 1}}]}
    assert isinstance(from_architecture(old)[0], nnx.Linear)

    class Custom(nnx.Linear):  # a subclass is not nnx's own class: saved as its state only
        pass
    assert architecture(Custom(2, 2)) is None and architecture(nnx.Sequential(Custom(2, 2))) is None
    with pytest.raises(ValueError, match="unknown layer type 'Custom'"):
        from_architecture({"type": "Custom", "config": {}})


def test_save_keeps_permissions_and_refuses_an_empty_path(tmp_path):
    model = nnx.Sequential(nnx.Linear(2, 2, rng=0))
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    nnx.save(model, path)
    assert os.stat(path).st_mode & 0o777 == 0o644
    fresh = tmp_path / "fresh.npz"
    nnx.save(model, fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(fresh).st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(ValueError, match="path"):
        nnx.save(model, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.npz", "m.npz"]  # no temporary left


def test_the_application_names_are_attributes_of_nnx():
    assert nnx.callbacks.EarlyStopping is nnx.train.callbacks.EarlyStopping
    assert nnx.metrics.accuracy is nnx.train.metrics.accuracy and nnx.io.save is nnx.save
    assert nnx.models.lenet5 is nnx.train.models.lenet5 and nnx.train.fit is nnx.fit
    assert nnx.plot is nnx.train.plot
    with pytest.raises(ModuleNotFoundError):  # the old module aliases are gone: nnx.train.* is the path
        importlib.import_module("nnx.serialization")


def test_loading_builds_layers_without_drawing_random_weights(tmp_path, monkeypatch):
    model = _every_layer(np.float64)
    nnx.save(model, tmp_path / "m.npz")

    class NoDraws:
        def uniform(self, *args, **kwargs):
            raise AssertionError("a layer drew random initial weights while being loaded")

        def __getattr__(self, name):  # Dropout keeps a generator; creating one draws nothing
            return getattr(np.random.default_rng(0), name)

    monkeypatch.setattr(np.random, "default_rng", lambda *a, **k: NoDraws())
    back = nnx.load(tmp_path / "m.npz")
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert k1 == k2 and np.array_equal(v1, v2), k1
    with pytest.raises(AssertionError, match="drew random"):  # the stand-in does catch a draw
        nnx.Linear(2, 3)
    assert np.count_nonzero(nnx.Linear(2, 3, rng=np.random.Generator(np.random.PCG64(0))).weight.data)
