"""MNIST and Fashion-MNIST from the original IDX files (``.gz``, or as ``gunzip`` left them).

Where the files are looked for: ``root`` when it is given (and nowhere else), otherwise
``$NNX_DATA_DIR``, then the user cache (``$XDG_CACHE_HOME/nnx`` or ``~/.cache/nnx``); in each,
``<dir>/<kind>/`` and then ``<dir>/`` itself. ``download=True`` fetches missing files from a mirror list into ``root``
(or the cache), verifying each file's published MD5 and writing through
``nnx.io.atomic_write``, so an interrupted download never leaves a half-written file behind.

Every file found is checked against the published MD5 of its name (or the MD5 of its
decompressed bytes, for an uncompressed file), so a folder of Fashion-MNIST never trains under
the name "mnist"; the results are cached (``<cache>/md5.json``, keyed by path, size and mtime), so
the check costs once per folder, not once per run.
"""
import json
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
# The MD5s of the decompressed files (``gunzip`` of the published ones), for uncompressed folders.
MD5_RAW = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
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


def _present(d):
    """``{key: path}`` of the four files in folder ``d``, each ``.gz`` or uncompressed, or None."""
    found = {}
    for key, name in FILES.items():
        path = next((p for p in (d / name, d / name[:-3]) if p.is_file()), None)
        if path is None:
            return None
        found[key] = path
    return found


def _find(root, kind):
    for d in _candidates(root, kind):
        files = _present(d)
        if files is not None:
            return d, files
    return None, None


_MD5_CACHE_MAX = 1 << 16  # bytes: the cache file is read like any other, bounded first
_md5_memo = {}


def _md5_cache_path():
    return cache_dir() / "md5.json"


def _read_md5_cache():
    from ..io.reading import read_regular
    try:
        table = json.loads(read_regular(_md5_cache_path(), "load_mnist", "cache file", _MD5_CACHE_MAX))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items()
            if isinstance(k, str) and isinstance(v, list) and len(v) == 3 and isinstance(v[2], str)}


def _file_md5(path, table):
    """The MD5 of ``path``, from the cache when its size and mtime are the ones recorded."""
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns]
    cached = _md5_memo.get(key) or table.get(key)
    if cached and list(cached[:2]) == stamp:
        return cached[2], False
    digest = idx.md5(path)
    _md5_memo[key] = table[key] = [*stamp, digest]
    return digest, True


def _write_md5_cache(table):
    from ..io.atomic import atomic_write
    try:
        text = json.dumps(dict(list(table.items())[-200:]))  # the latest folders: well under the bound
        _md5_cache_path().parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(_md5_cache_path(), "w") as f:
            f.write(text)
    except OSError:
        pass  # an unwritable cache only costs the check again next time


def verify(folder, files, kind):
    """Check the files of ``folder`` against the published MD5s of ``kind``; ``ValueError``
    naming the file and what it is instead (the other data set's, or neither)."""
    table = _read_md5_cache()
    changed = False
    for path in files.values():
        digest, new = _file_md5(path, table)
        changed |= new
        known = MD5 if path.suffix == ".gz" else MD5_RAW
        if digest == known[kind][path.name]:
            continue
        other = next((k for k in KINDS if k != kind and known[k].get(path.name) == digest), None)
        if changed:
            _write_md5_cache(table)
        if other is not None:
            raise ValueError(f"load_mnist: {folder} holds {_TITLES[other]} files, not {_TITLES[kind]} ({path.name} "
                             f"has {_TITLES[other]}'s published MD5): load it as kind={other!r} (--data {other}), "
                             f"or point root (--root) at the {_TITLES[kind]} folder")
        raise ValueError(f"load_mnist: {path}: MD5 {digest} is not the published one of {_TITLES[kind]}'s "
                         f"{path.name} ({known[kind][path.name]}): a corrupt or different file; delete it "
                         "(download=True / --download fetches it again)")
    if changed:
        _write_md5_cache(table)


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
        Folder holding the four files, ``.gz`` or uncompressed (directly or in ``<root>/<kind>/``).
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
        A file that is not the published one (named: corrupt, truncated, or the other data set's),
        or an unknown ``kind``.
    OSError
        Every mirror failed for a file.
    """
    if kind not in KINDS:
        raise ValueError(f"load_mnist: kind: expected one of {KINDS}, got {kind!r}")
    found, files = _find(root, kind)
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
        files = {key: found / name for key, name in FILES.items()}
    verify(found, files, kind)
    arrays = {}
    for key, path in files.items():
        arrays[key] = idx.read_idx(path, 3 if key.endswith("images") else 1)
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ValueError(f"load_mnist: {found}: {split} images {images.shape} do not match "
                             f"labels {labels.shape} (expected (N, 28, 28) and (N,))")
        if labels.size and labels.max() > 9:
            raise ValueError(f"load_mnist: {files[f'{split}_labels']}: label {labels.max()} outside 0..9")
        x = images.reshape(-1, 1, 28, 28).astype(np.float32)
        x *= np.float32(1 / 255)
        out += [x, labels.astype(np.int64)]
    return tuple(out)
