"""Checkpoints that cannot hurt you: ``nnx.save`` / ``nnx.load``.

File format (an ordinary ``.npz``: a zip of ``.npy`` members, stored uncompressed)::

    nnx.json        UTF-8 JSON header: {"format": "nnx", "format_version": 1, "nnx_version",
                    "kind", "arrays": {member: {"dtype", "shape"}}, "tree", "metadata"}
    a0.npy, a1.npy  the arrays, named by position; the header's "tree" says where each belongs

``tree`` is the saved object with every array replaced by ``{"__array__": "a3"}``; modules carry
their architecture (``{"__module__": {"arch": ..., "state": ...}}``) when they are built-in layers
or a Sequential/Graph of them, so ``load`` rebuilds them without executing anything from the
file. Nothing is ever unpickled: arrays are read with ``allow_pickle=False`` after their
``.npy`` header has been checked against the JSON header and the member's size in the zip
directory, so a forged shape cannot make ``load`` allocate more than the file could hold.

Saving writes a temporary file in the destination folder, ``fsync``\\ s it, then
``os.replace``\\ s it over the destination (and ``fsync``\\ s the folder): a crash at any moment
leaves either the old file or the new one, never a torn one. A killed save can leave a
``.<name>.tmp-*`` file behind; it never replaces anything and may be deleted.
"""
import io
import json
import math
import os
import warnings
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .. import init
from .._validation import caller_stacklevel
from .._version import __version__
from ..module import Module, Sequential, architecture, architecture_size, from_architecture
from ..optim.optimizer import Optimizer
from .atomic import atomic_write
from .reading import open_regular

FORMAT = "nnx"
FORMAT_VERSION = 1
HEADER_NAME = "nnx.json"
_MAX_HEADER_BYTES = 16 << 20
_NPY_HEADER_MAX = 10000
_MAX_DEPTH = 64  # JSON nesting: a model tree of Sequentials/Graphs, far below Python's recursion limit
# Deflate expands at most ~1032:1; a member that claims more is forged (we write stored members).
_MAX_INFLATE = 1100
_ALLOWED_KINDS = "biufc"


# -- tree encoding -------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays = {}

    def array(self, a):
        a = np.asarray(a)
        if a.dtype.kind not in _ALLOWED_KINDS or a.dtype.hasobject:
            raise TypeError(f"nnx.save: cannot store an array of dtype {a.dtype} (numbers and bools only)")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")
        return name

    def encode(self, obj, where="obj"):
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, np.ndarray):
            return {"__array__": self.array(obj)}
        if isinstance(obj, np.generic):
            return {"__scalar__": self.array(np.asarray(obj))}
        if isinstance(obj, Module):
            return {"__module__": {"arch": architecture(obj), "class": type(obj).__name__,
                                   "training": obj.training, "state": self.encode(obj.state_dict(), where)}}
        if isinstance(obj, Optimizer):
            return self.encode(obj.state_dict(), where)
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") for k in obj):
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
            for k in obj:
                if not isinstance(k, str | int) or isinstance(k, bool):
                    raise TypeError(f"nnx.save: {where}: dict keys must be str or int, got {k!r}")
            return {"__items__": [[k, self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()]}
        raise TypeError(f"nnx.save: {where}: cannot store a {type(obj).__name__} (arrays, numbers, "
                        "strings, lists, dicts, modules and optimizers only)")


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, val), = node.items()
        if tag == "__array__":
            return arrays[_ref(val, arrays)]
        if tag == "__scalar__":
            return arrays[_ref(val, arrays)][()]
        if tag == "__float__":
            if val not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad float {val!r}")
            return float(val)
        if tag == "__tuple__":
            return tuple(_decode(v, arrays) for v in val)
        if tag == "__items__":
            return {k: _decode(v, arrays) for k, v in val}
        if tag == "__module__":
            state = OrderedDict(_decode(val["state"], arrays))
            if val.get("arch") is None:
                return state  # not a built-in architecture: the caller loads it into their model
            # what building would allocate must be what the file holds, checked before building
            held, needed = sum(np.size(v) for v in state.values()), architecture_size(val["arch"])
            if needed != held:
                raise ValueError(f"the {val['arch'].get('type')} architecture needs {needed} parameter and "
                                 f"buffer values, the file holds {held} for it")
            with init.skipped():  # every value is about to be overwritten: no random draws
                module = from_architecture(val["arch"])
            module.load_state_dict(state)
            return module.train(bool(val.get("training", True)))
    return {k: _decode(v, arrays) for k, v in node.items()}


def _ref(name, arrays):
    if name not in arrays:
        raise ValueError(f"the header refers to a missing array {name!r}")
    return name


# -- save ----------------------------------------------------------------------------------------
def save(obj, path, metadata=None):
    """Save a module, a state dict, an optimizer's state or a dict of them to ``path`` (.npz).

    Parameters
    ----------
    obj : Module, mapping, Optimizer, or nested dicts/lists of arrays, numbers and strings
        A Sequential/Graph of built-in layers is saved with its architecture, so ``load``
        returns a ready model; any other module is saved as its state dict.
    path : str or os.PathLike
        Written atomically (temp file in the same folder, fsync, ``os.replace``).
    metadata : dict, optional
        JSON-serialisable extra information (e.g. the input shape, class names), returned by
        ``load_header``.
    """
    path = os.fspath(path)
    bad = nonfinite(obj)
    if bad is not None:  # never a diverged model, and never over a good file
        kept = f"; {path} is left as it was" if os.path.exists(path) else ""
        raise ValueError(f"nnx.save: {path}: the model holds {bad[0]:,} NaN or inf values (the first in "
                         f"{bad[1]!r}): not saved{kept} (training diverged? lower the learning rate)")
    enc = _Encoder()
    tree = enc.encode(obj)
    if isinstance(obj, Module):
        kind = "module"
    elif isinstance(obj, dict) and all(isinstance(v, np.ndarray) for v in obj.values()):
        kind = "state_dict"
    else:
        kind = "object"
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "nnx_version": __version__, "kind": kind,
        "arrays": {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in enc.arrays.items()},
        "tree": tree, "metadata": {} if metadata is None else metadata,
    }
    try:
        header_bytes = json.dumps(header, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"nnx.save: metadata must be JSON-serialisable ({exc})") from None
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(HEADER_NAME, header_bytes)
        for name, a in enc.arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=a.nbytes > (1 << 30)) as member:
                np.lib.format.write_array(member, a, allow_pickle=False)
    return path


def nonfinite(obj):
    """``(count, first name)`` of the NaN/inf values in the parameters and buffers of the models
    in ``obj`` (a module, a state dict, or a dict holding them), or None when all are finite."""
    states = []
    if isinstance(obj, Module):
        states.append(("", obj.state_arrays()))
    elif isinstance(obj, dict):
        if obj and all(isinstance(v, np.ndarray) for v in obj.values()):
            states.append(("", obj))
        else:
            states += [(f"{k}.", v.state_arrays()) for k, v in obj.items() if isinstance(v, Module)]
    count, first = 0, None
    for prefix, state in states:
        for name, a in state.items():
            a = np.asarray(a)
            if a.dtype.kind in "fc":
                n = a.size - int(np.count_nonzero(np.isfinite(a)))
                if n and first is None:
                    first = prefix + name
                count += n
    return None if first is None else (count, first)


# -- load ----------------------------------------------------------------------------------------
class _FileZip(zipfile.ZipFile):
    """A ZipFile over a file object it owns: closing it closes the file."""

    def close(self):
        try:
            super().close()
        finally:
            owned = getattr(self, "owned", None)  # (unset when the constructor failed)
            if owned is not None:
                owned.close()


def _open(path):
    f, size = open_regular(path, "nnx.load", "checkpoint file")
    path = os.fspath(path)
    try:
        magic = f.read(4)
        if magic != b"PK\x03\x04":
            raise ValueError(f"nnx.load: {path!r} is not an nnx checkpoint (not a zip/.npz file)")
        f.seek(0)
        try:
            zf = _FileZip(f, "r")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise ValueError(f"nnx.load: {path!r} is truncated or corrupt ({exc})") from None
    except BaseException:
        f.close()
        raise
    zf.owned = f
    names = [info.filename for info in zf.infolist()]
    # stored or deflate only, and none of the encrypted (0x1), patched (0x20) or strongly
    # encrypted (0x40) forms zipfile cannot read anyway
    bad = [i.filename for i in zf.infolist()
           if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or i.flag_bits & 0x61]
    if len(set(names)) != len(names) or bad:
        zf.close()
        why = f"members compressed other than stored/deflate: {bad[:3]}" if bad else "duplicate member names"
        raise ValueError(f"nnx.load: {path!r}: refused ({why})")
    return zf, size


def _read_member(zf, info, limit):
    """At most ``limit`` bytes of a member, inflated in bounded steps: a member whose data inflates
    past what it declares (a zip bomb) is cut there instead of being inflated whole."""
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit or len(data) != info.file_size:
        raise ValueError(f"member {info.filename!r} holds more or less than its declared {info.file_size} bytes")
    return data


def _read_header(zf, path):
    try:
        info = zf.getinfo(HEADER_NAME)
    except KeyError:
        raise ValueError(f"nnx.load: {path!r} is a zip/.npz file but not an nnx checkpoint "
                         f"(no {HEADER_NAME} header)") from None
    if info.file_size > _MAX_HEADER_BYTES:
        raise ValueError(f"nnx.load: {path!r}: header of {info.file_size} bytes is too large")
    try:
        header = json.loads(_read_member(zf, info, info.file_size).decode("utf-8"))
        _check_depth(header, _MAX_DEPTH)
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeDecodeError, ValueError, RecursionError, zlib.error) as exc:
        raise ValueError(f"nnx.load: {path!r}: unreadable header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"nnx.load: {path!r}: not an nnx checkpoint (header format is not 'nnx')")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"nnx.load: {path!r}: header has no valid format_version (got {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(f"nnx.load: {path!r} uses format version {version}, written by nnx "
                         f"{header.get('nnx_version', '?')}; this nnx reads up to version "
                         f"{FORMAT_VERSION}: upgrade nnx")
    if not isinstance(header.get("arrays"), dict):
        raise ValueError(f"nnx.load: {path!r}: header has no array table")
    return header


def _check_depth(node, depth):
    """Refuse JSON nested deeper than ``depth`` (decoding it would recurse that deep)."""
    stack = [(node, depth)]
    while stack:
        node, left = stack.pop()
        if isinstance(node, dict | list):
            if left == 0:
                raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
            stack += [(v, left - 1) for v in (node.values() if isinstance(node, dict) else node)]


def load_header(path):
    """Return the JSON header of a checkpoint (format, versions, kind, array table, metadata)."""
    zf, _ = _open(path)
    with zf:
        return _read_header(zf, os.fspath(path))


def _check_member(zf, name, spec, path, file_size):
    """Validate one array member without allocating it; return the expected dtype and shape."""
    where = f"nnx.load: {path!r}: array {name!r}"
    try:
        dtype = np.dtype(spec["dtype"])
        shape = spec["shape"]
        if not isinstance(shape, list) or any(type(s) is not int for s in shape) or len(shape) > 32:
            raise ValueError(f"shape must be a list of at most 32 ints, got {shape!r}")
        shape = tuple(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad entry in the header ({exc})") from None
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject or any(s < 0 for s in shape):
        raise ValueError(f"{where}: refused dtype {dtype} / shape {shape} (numbers only; "
                         "object arrays would need pickle)")
    try:
        info = zf.getinfo(f"{name}.npy")
    except KeyError:
        raise ValueError(f"{where}: missing from the file (truncated?)") from None
    nbytes = math.prod(shape) * dtype.itemsize
    if info.compress_size > file_size or info.file_size > max(info.compress_size, 1) * _MAX_INFLATE \
            or info.file_size < nbytes:
        raise ValueError(f"{where}: declares {shape} {dtype} ({nbytes} bytes) but the file holds "
                         f"{info.compress_size} bytes for it: truncated or forged")
    try:
        with zf.open(info) as f:
            major, _ = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            npy_shape, fortran, npy_dtype = reader(f, max_header_size=_NPY_HEADER_MAX)
            data_start = f.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
        raise ValueError(f"{where}: bad .npy header ({exc})") from None
    if npy_dtype.hasobject:
        raise ValueError(f"{where}: holds Python objects (pickle); refused")
    if npy_dtype != dtype or tuple(npy_shape) != shape:
        raise ValueError(f"{where}: the .npy header says {npy_shape} {npy_dtype}, the nnx header "
                         f"says {shape} {dtype}")
    if info.file_size != data_start + nbytes:
        raise ValueError(f"{where}: {info.file_size - data_start} data bytes for {nbytes} expected")
    return info


def load(path):
    """Load what ``save`` wrote; never unpickles.

    Returns
    -------
    Module
        when a Sequential/Graph of built-in layers (or a built-in layer) was saved: rebuilt
        with its saved parameters and buffers;
    OrderedDict
        the state dict, when a state dict or a custom module was saved (load it with
        ``model.load_state_dict``);
    object
        the saved dict/list otherwise (e.g. ``{"model": ..., "optimizer": ..., "epoch": 3}``).

    Raises
    ------
    FileNotFoundError
        the path does not exist.
    ValueError
        the file is truncated, corrupt, not an nnx checkpoint, from a newer format version,
        holds object (pickle) arrays, or declares shapes its bytes cannot hold.
    """
    return load_with_header(path)[0]


def load_with_header(path):
    """``(load(path), load_header(path))`` from one read of the file."""
    path_s = os.fspath(path)
    zf, file_size = _open(path_s)
    with zf:
        header = _read_header(zf, path_s)
        arrays = {}
        for name, spec in header["arrays"].items():
            if not isinstance(name, str) or not isinstance(spec, dict):
                raise ValueError(f"nnx.load: {path_s!r}: bad array table in the header")
            info = _check_member(zf, name, spec, path_s, file_size)
            try:
                data = io.BytesIO(_read_member(zf, info, info.file_size))
                arrays[name] = np.lib.format.read_array(data, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise ValueError(f"nnx.load: {path_s!r}: array {name!r} is corrupt ({exc})") from None
    try:
        obj = _decode(header.get("tree"), arrays)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"nnx.load: {path_s!r}: malformed object tree in the header ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"nnx.load: {path_s!r}: {exc}") from None
    if header.get("kind") == "state_dict" and isinstance(obj, dict):
        obj = OrderedDict(obj)
    return _normalize_inside(obj, header, path_s), header


def _normalize_inside(obj, header, path):
    """A model saved with the old ``normalize`` metadata (the preprocessing recorded beside the
    model) comes back with that preprocessing as its first layer, ``Normalize``, and the metadata
    entry gone, so every consumer computes the same thing; said once. Per-pixel statistics (not one
    value or one per channel) stay metadata, which ``io.inputs.prepare_inputs`` still applies."""
    meta = header.get("metadata")
    norm = meta.get("normalize") if isinstance(meta, dict) else None
    holder = obj if isinstance(obj, Module) else obj.get("model") if isinstance(obj, dict) else None
    if norm is None or not isinstance(holder, Module):
        return obj
    from ..layers import Normalize
    from .inputs import check_metadata
    check_metadata(meta, path)
    mean, std = (np.asarray(v, np.float64) for v in norm)
    if mean.ndim > 1 or std.ndim > 1:
        return obj
    dtype = next((p.dtype for p in holder.parameters()), np.float32)
    layers = list(holder) if type(holder) is Sequential else [holder]
    model = Sequential(Normalize(mean, std, dtype=dtype), *layers).train(holder.training)
    header["metadata"] = {k: v for k, v in meta.items() if k != "normalize"}
    shown = (f"mean {mean.tolist()}, std {std.tolist()}" if mean.size <= 4 and std.size <= 4
             else f"{max(mean.size, std.size)} values per channel")
    warnings.warn(f"nnx.load: {path}: the input normalisation its metadata records ({shown}) now runs inside the "
                  "model, as its first layer (Normalize); save the model again to store it that way",
                  UserWarning, stacklevel=caller_stacklevel())
    return model if holder is obj else {**obj, "model": model}
