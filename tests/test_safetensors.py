"""safetensors in and out, with torch's state_dict names: a LeNet-5 trained in torch predicts the
same in nnx, and the reverse, BatchNorm statistics included."""
import numpy as np
import pytest

pytest.importorskip("safetensors")

import nnx  # noqa: E402
from nnx.io import load_safetensors, save_safetensors  # noqa: E402


def _nnx_lenet(dt=np.float32):
    return nnx.Sequential(nnx.Conv2d(1, 6, 5, padding=2, dtype=dt, rng=0), nnx.BatchNorm2d(6, dtype=dt), nnx.ReLU(),
                          nnx.MaxPool2d(2), nnx.Conv2d(6, 16, 5, dtype=dt, rng=1), nnx.ReLU(), nnx.MaxPool2d(2),
                          nnx.Flatten(), nnx.Linear(400, 120, dtype=dt, rng=2), nnx.ReLU(),
                          nnx.Linear(120, 84, dtype=dt, rng=3), nnx.ReLU(), nnx.Linear(84, 10, dtype=dt, rng=4))


def _torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _digits28():
    X, y, Xt, _ = nnx.datasets.load_digits()
    up = lambda a: np.kron(a, np.ones((1, 1, 3, 3), np.float32))  # noqa: E731  8x8 -> 24x24
    pad = lambda a: np.pad(up(a), ((0, 0), (0, 0), (2, 2), (2, 2)))  # noqa: E731  -> 28x28, as MNIST
    return pad(X[:256]), y[:256], pad(Xt[:64])


def test_round_trip_keeps_names_dtypes_and_values(tmp_path):
    model = _nnx_lenet(np.float64)
    save_safetensors(model, tmp_path / "m.safetensors", metadata={"format": "pt", "note": "nnx"})
    back = load_safetensors(tmp_path / "m.safetensors")
    state = model.state_dict()
    assert set(back) == set(state)  # (safetensors orders the tensors its own way)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
    other = _nnx_lenet(np.float64)
    other.load_state_dict(back)
    with pytest.raises(TypeError, match="str to str"):
        save_safetensors(model, tmp_path / "x.safetensors", metadata={"epochs": 3})


def test_hostile_files_are_refused(tmp_path):
    (tmp_path / "short").write_bytes(b"\x01\x02")
    with pytest.raises(ValueError, match="too short"):
        load_safetensors(tmp_path / "short")
    (tmp_path / "huge").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="header of"):
        load_safetensors(tmp_path / "huge")
    header = b'{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}'
    (tmp_path / "lie").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 16)
    with pytest.raises(ValueError, match="outside the file"):
        load_safetensors(tmp_path / "lie")


def test_torch_trained_lenet_predicts_the_same_in_nnx_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    X, y, Xt = _digits28()
    torch.manual_seed(0)
    tm = _torch_lenet(torch)
    opt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    for i in range(0, len(X), 32):  # one epoch in torch, BatchNorm statistics moving
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(X[i:i + 32])), torch.from_numpy(y[i:i + 32])).backward()
        opt.step()
    tm.eval()
    safetensors_torch.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    model = _nnx_lenet()
    model.load_state_dict(load_safetensors(tmp_path / "torch.safetensors"))
    model.eval()
    want = tm(torch.from_numpy(Xt)).detach().numpy()
    np.testing.assert_allclose(model(Xt), want, rtol=1e-4, atol=1e-5)
    assert np.array_equal(model(Xt).argmax(axis=1), want.argmax(axis=1))

    # and back: nnx trains on, torch loads nnx's file
    nnx.fit(model.train(), nnx.SoftmaxCrossEntropy(), nnx.optim.SGD(model.parameters(), lr=0.05),
            (X, y), epochs=1, seed=0, progress=False)
    model.eval()
    save_safetensors(model, tmp_path / "nnx.safetensors")
    tm2 = _torch_lenet(torch)
    tm2.load_state_dict(safetensors_torch.load_file(str(tmp_path / "nnx.safetensors")))
    tm2.eval()
    assert int(tm2[1].num_batches_tracked) == int(model[1].num_batches_tracked) > 0
    got = tm2(torch.from_numpy(Xt)).detach().numpy()
    np.testing.assert_allclose(got, model(Xt), rtol=1e-4, atol=1e-5)
    assert np.array_equal(got.argmax(axis=1), model(Xt).argmax(axis=1))
