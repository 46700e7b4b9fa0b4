"""load_mnist on the real files (through NNX_DATA_DIR), on corrupt ones, and the download path
against a local HTTP server on 127.0.0.1. Skipped cleanly when the data are absent."""
import gzip
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import nnx
from nnx.datasets import mnist
from nnx.io.idx import md5

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _data_dir(kind="mnist"):
    root = os.environ.get("NNX_DATA_DIR")
    if not root or not (Path(root) / kind / mnist.FILES["train_images"]).is_file():
        pytest.skip(f"{kind} IDX files not found through NNX_DATA_DIR")
    return Path(root)


@pytest.fixture(scope="module")
def mnist_arrays():
    return nnx.datasets.load_mnist(_data_dir())


def test_real_mnist_shapes_labels_and_statistics(mnist_arrays):
    X, y, Xt, yt = mnist_arrays
    assert X.shape == (60000, 1, 28, 28) and Xt.shape == (10000, 1, 28, 28)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert list(y[:20]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7, 2, 8, 6, 9]
    assert list(np.bincount(y)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert list(np.bincount(yt)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert X.min() == 0 and X.max() == 1
    assert X.mean() == pytest.approx(0.1307, abs=1e-4) and X.std() == pytest.approx(0.3081, abs=1e-4)


def test_real_fashion_mnist():
    X, y, Xt, yt = nnx.datasets.load_mnist(_data_dir("fashion-mnist"), kind="fashion-mnist")
    assert list(y[:20]) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4]
    assert (np.bincount(y) == 6000).all() and (np.bincount(yt) == 1000).all()


def test_search_order_root_then_env(tmp_path, monkeypatch):
    src = _data_dir() / "mnist"
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="NNX_DATA_DIR"):
        nnx.datasets.load_mnist()
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in mnist.FILES.values():
        os.symlink(src / name, flat / name)
    assert nnx.datasets.load_mnist(flat)[1].shape == (60000,)  # files directly in root
    monkeypatch.setenv("NNX_DATA_DIR", str(flat))
    assert nnx.datasets.load_mnist()[3].shape == (10000,)  # found through the environment


def _copy_with(tmp_path, name, data):
    src = _data_dir() / "mnist"
    dst = tmp_path / "mnist"
    dst.mkdir(exist_ok=True)
    for n in mnist.FILES.values():
        if n != name:
            os.symlink(src / n, dst / n)
    (dst / name).write_bytes(data)
    return tmp_path


def test_truncated_gzip_is_a_value_error_naming_the_file(tmp_path):
    raw = (_data_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    root = _copy_with(tmp_path, "t10k-labels-idx1-ubyte.gz", raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        nnx.datasets.load_mnist(root)


@pytest.mark.parametrize("corrupt", ["magic", "short_payload", "not_gzip"])
def test_corrupt_idx_files_are_refused(tmp_path, corrupt):
    if corrupt == "not_gzip":
        data = b"this is not a gzip file"
    else:
        labels = gzip.decompress((_data_dir() / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
        if corrupt == "magic":
            labels = (2051).to_bytes(4, "big") + labels[4:]
        else:
            labels = labels[:-10]
        data = gzip.compress(labels)
    root = _copy_with(tmp_path, "t10k-labels-idx1-ubyte.gz", data)
    with pytest.raises(ValueError, match="t10k-labels"):
        nnx.datasets.load_mnist(root)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        nnx.datasets.load_mnist(kind="cifar10")


class _Server:
    """A local HTTP server on 127.0.0.1 serving one folder (bounded: closed by the test)."""

    def __init__(self, folder):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No NNX_DATA_DIR and an empty cache: files can only come from the download."""
    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_download_from_local_mirror_verifies_md5_and_leaves_no_temp_files(tmp_path, monkeypatch):
    src = _data_dir() / "mnist"
    monkeypatch.delenv("NNX_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in mnist.FILES.values():  # a mirror with the right names but wrong bytes
        (bad / name).write_bytes(b"corrupt")
    root = tmp_path / "root"
    with _Server(bad) as broken, _Server(src) as good:
        X, y, Xt, yt = nnx.datasets.load_mnist(root, download=True,
                                               mirrors=[broken.url, "http://127.0.0.1:9/", good.url])
    assert X.shape == (60000, 1, 28, 28) and list(y[:3]) == [5, 0, 4]
    files = sorted(p.name for p in (root / "mnist").iterdir())
    assert files == sorted(mnist.FILES.values())  # no .part leftovers
    for name in files:
        assert md5(root / "mnist" / name) == mnist.MD5["mnist"][name]


def test_download_fails_cleanly_when_every_mirror_is_bad(tmp_path, isolated):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in mnist.FILES.values():
        (bad / name).write_bytes(b"corrupt")
    with _Server(bad) as broken, pytest.raises(OSError, match="MD5"):
        nnx.datasets.load_mnist(tmp_path / "root", download=True, mirrors=[broken.url])
    leftovers = list((tmp_path / "root" / "mnist").iterdir())
    assert leftovers == []


def test_lenet5_learns_on_a_subset(capsys, tmp_path):
    _data_dir()
    sys.path.insert(0, str(EXAMPLES))
    try:
        import mnist_lenet5
    finally:
        sys.path.remove(str(EXAMPLES))
    mnist_lenet5.main(["--epochs", "3", "--train-subset", "10000", "--seed", "0", "--plots", str(tmp_path),
                       "--save", str(tmp_path / "lenet.npz")])
    lines = capsys.readouterr().out.strip().splitlines()
    last = next(line for line in lines if line.startswith("test accuracy: "))
    assert float(last.split(": ")[1]) > 0.95  # chance is 0.10; this run gives ~0.972
    for name in ("curves.png", "confusion.png", "misclassified.png", "filters.png"):
        assert (tmp_path / name).stat().st_size > 2000, name
    assert isinstance(nnx.load(tmp_path / "lenet.npz"), nnx.Sequential)


def test_missing_files_error_lists_where_it_looked(tmp_path, isolated):
    with pytest.raises(FileNotFoundError, match="download=True"):
        nnx.datasets.load_mnist(tmp_path / "empty")


def test_uncompressed_files_are_accepted(tmp_path, monkeypatch):
    # what `gunzip *.gz` leaves: the same arrays, checked against the MD5s of the decompressed bytes
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    raw = tmp_path / "raw" / "mnist"
    raw.mkdir(parents=True)
    for name in mnist.FILES.values():
        (raw / name[:-3]).write_bytes(gzip.decompress((_data_dir() / "mnist" / name).read_bytes()))
    got = nnx.datasets.load_mnist(tmp_path / "raw")
    for a, b in zip(got, nnx.datasets.load_mnist(_data_dir()), strict=True):
        np.testing.assert_array_equal(a, b)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\0" * 10008)  # the right size, not the right bytes
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: MD5 .* is not the published one"):
        nnx.datasets.load_mnist(tmp_path / "raw")


def test_a_fashion_folder_is_not_trained_as_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fashion = _data_dir("fashion-mnist") / "fashion-mnist"
    with pytest.raises(ValueError, match="holds Fashion-MNIST files, not MNIST .*--data fashion-mnist"):
        nnx.datasets.load_mnist(fashion)
    out = subprocess.run([sys.executable, "-m", "nnx", "train", "--data", "mnist", "--root", str(fashion),
                          "--epochs", "1"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert out.returncode == 1 and "holds Fashion-MNIST files, not MNIST" in out.stderr


def test_the_md5_check_runs_once_per_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "_md5_memo", {})
    nnx.datasets.load_mnist(_data_dir())
    assert (tmp_path / "cache" / "nnx" / "md5.json").is_file()  # kept for the next process

    def no_md5(path):
        raise AssertionError(f"{path} hashed again")
    monkeypatch.setattr(mnist, "_md5_memo", {})  # a new process: only the file cache
    monkeypatch.setattr(mnist.idx, "md5", no_md5)
    assert nnx.datasets.load_mnist(_data_dir())[3].shape == (10000,)
    (tmp_path / "cache" / "nnx" / "md5.json").write_text("[not json")  # a broken cache only costs time
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert nnx.datasets.load_mnist(_data_dir())[3].shape == (10000,)
