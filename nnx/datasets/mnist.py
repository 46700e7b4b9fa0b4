"""MNIST and Fashion-MNIST from the original IDX ``.gz`` files.

Where the files are looked for: ``root`` when it is given (and nowhere else), otherwise
``$NNX_DATA_DIR``, then the user cache (``$XDG_CACHE_HOME/nnx`` or ``~/.cache/nnx``); in each,
``<dir>/<kind>/`` and then ``<dir>/`` itself. ``download=True`` fetches missing files from a mirror list into ``root``
(or the cache), verifying each file's published MD5 and writing through
``nnx.io.atomic_write``, so an interrupted download never leaves a half-written file behind.
"""
import os
from pathlib import Path

import numpy as np

from ..io import idx

KINDS = ("mnist", "fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# The MD5s published by the data sets' authors (also in shared/data/README.md).
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
# Tried in order; configurable per call (``mirrors=``) or by editing this dict.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}


def cache_dir():
    """The user cache folder nnx downloads into when no ``root`` is given."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nnx"


def _candidates(root, kind):
    """Where the files are looked for: an explicit ``root`` only, else $NNX_DATA_DIR and the cache."""
    if root is not None:
        bases = [Path(root)]
    else:
        bases = [Path(os.environ["NNX_DATA_DIR"])] if os.environ.get("NNX_DATA_DIR") else []
        bases.append(cache_dir())
    out = []
    for b in bases:
        out += [b / kind, b]
    return out


def _find(root, kind):
    for d in _candidates(root, kind):
        if all((d / f).is_file() for f in FILES.values()):
            return d
    return None


def _download(kind, dest, mirrors, timeout=60):
    """Fetch the missing files of ``kind`` into ``dest``, each MD5-checked before it is renamed
    into place (nnx.io.idx.fetch)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5[kind].items():
        target = dest / name
        if target.is_file() and idx.md5(target) == md5:
            continue
        errors = []
        for base in mirrors:
            try:
                idx.fetch(base.rstrip("/") + "/" + name, target, md5, timeout)
                break
            except OSError as exc:
                errors.append(str(exc))
        else:
            raise OSError(f"load_mnist: could not download {name}: " + "; ".join(errors))


def load_mnist(root=None, kind="mnist", download=False, *, mirrors=None):
    """Load MNIST or Fashion-MNIST.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding the four ``.gz`` files (directly or in ``<root>/<kind>/``).
    kind : {"mnist", "fashion-mnist"}
    download : bool
        Fetch missing files (MD5-verified) into ``root`` or the user cache.
    mirrors : list of str, optional
        Base URLs to try in order (default ``MIRRORS[kind]``).

    Returns
    -------
    X_train : ndarray (60000, 1, 28, 28) float32 in [0, 1]
    y_train : ndarray (60000,) int64
    X_test : ndarray (10000, 1, 28, 28) float32 in [0, 1]
    y_test : ndarray (10000,) int64

    Raises
    ------
    FileNotFoundError
        Files missing and ``download=False`` (the message lists where nnx looked).
    ValueError
        A corrupt or truncated file (named), or an unknown ``kind``.
    OSError
        Every mirror failed for a file.
    """
    if kind not in KINDS:
        raise ValueError(f"load_mnist: kind: expected one of {KINDS}, got {kind!r}")
    found = _find(root, kind)
    if found is None:
        if not download:
            looked = ", ".join(str(d) for d in _candidates(root, kind))
            raise FileNotFoundError(
                f"load_mnist: the {kind} files ({', '.join(FILES.values())}) are not in any of: "
                f"{looked}. Set NNX_DATA_DIR to the folder holding them, give that folder (root= / --root DIR), "
                "or fetch them (download=True / --download)."
            )
        found = (Path(root) if root is not None else cache_dir()) / kind
        _download(kind, found, mirrors if mirrors is not None else MIRRORS[kind])
    arrays = {}
    for key, name in FILES.items():
        arrays[key] = idx.read_idx(found / name, 3 if key.endswith("images") else 1)
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ValueError(f"load_mnist: {found}: {split} images {images.shape} do not match "
                             f"labels {labels.shape} (expected (N, 28, 28) and (N,))")
        if labels.size and labels.max() > 9:
            raise ValueError(f"load_mnist: {found / FILES[f'{split}_labels']}: label {labels.max()} "
                             "outside 0..9")
        x = images.reshape(-1, 1, 28, 28).astype(np.float32)
        x *= np.float32(1 / 255)
        out += [x, labels.astype(np.int64)]
    return tuple(out)
