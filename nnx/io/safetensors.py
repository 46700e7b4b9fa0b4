"""Weights in the safetensors format (needs ``pip install 'nnx[safetensors]'``), to share them
with PyTorch and the Hugging Face ecosystem without pickle.

The names are the module's ``state_dict()`` keys, which are torch's for the equivalent torch
model (``Sequential`` children ``0``, ``1``, ...; ``weight``, ``bias``, BatchNorm's
``running_mean``, ``running_var``, ``num_batches_tracked``), and the layouts are torch's (Linear
``(out, in)``, Conv2d ``(out, in, kh, kw)``), so ``torch_model.load_state_dict(
safetensors.torch.load_file(path))`` takes a file nnx wrote, and ``model.load_state_dict(
load_safetensors(path))`` one torch wrote.
"""
import json
import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from .atomic import atomic_write
from .reading import open_regular

MAX_HEADER = 100 << 20  # the format's own limit on the JSON header
MAX_FILE = 1 << 34      # 16 GiB


def _library():
    try:
        from safetensors import numpy as st
    except ImportError:
        raise ImportError("safetensors files need the safetensors package: pip install 'nnx[safetensors]'") from None
    return st


def save_safetensors(module_or_state_dict, path, metadata=None):
    """Write a module's ``state_dict()`` (or a state dict) to ``path`` atomically.

    Parameters
    ----------
    module_or_state_dict : Module or mapping of str to ndarray
    path : str or os.PathLike
    metadata : dict of str to str, optional
        Stored in the file's header (the format allows only strings).
    """
    from ..module import Module
    st = _library()
    if isinstance(module_or_state_dict, Module):
        state = module_or_state_dict.state_dict()
    elif isinstance(module_or_state_dict, Mapping):
        state = module_or_state_dict
    else:
        raise TypeError("save_safetensors: module_or_state_dict: expected an nnx Module or a mapping of names "
                        f"to arrays, got {type(module_or_state_dict).__name__}")
    if metadata is not None and not (isinstance(metadata, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("save_safetensors: metadata: expected a dict of str to str (the format stores only strings)")
    tensors = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: state dict keys must be str, got {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save_safetensors: {name}: cannot store dtype {array.dtype}")
        tensors[name] = np.require(array, requirements="C")  # (ascontiguousarray would make 0-d 1-d)
    data = st.save(tensors, metadata=dict(metadata) if metadata else None)
    with atomic_write(path) as f:
        f.write(data)
    return os.fspath(path)


def load_safetensors(path):
    """The state dict in a safetensors file: ``OrderedDict`` of name -> ndarray, in the order the
    tensors are stored. The header is checked (size, JSON, every tensor's bytes inside the file)
    before anything is allocated; ``ValueError`` names what is wrong."""
    st = _library()
    f, size = open_regular(path, "load_safetensors", "safetensors file", MAX_FILE)
    path = os.fspath(path)
    with f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"load_safetensors: {path}: not a safetensors file (too short)")
        n = int.from_bytes(head, "little")
        if n > min(MAX_HEADER, size - 8):
            raise ValueError(f"load_safetensors: {path}: header of {n} bytes in a file of {size}")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # (a nesting bomb)
            raise ValueError(f"load_safetensors: {path}: header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise ValueError(f"load_safetensors: {path}: header is not a JSON object")
        spans = []
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            offsets = spec.get("data_offsets") if isinstance(spec, dict) else None
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                    and 0 <= offsets[0] <= offsets[1] <= size - 8 - n):
                raise ValueError(f"load_safetensors: {path}: tensor {name!r} lies outside the file")
            spans.append((offsets[0], name))
        f.seek(0)
        data = f.read()
    try:
        tensors = st.load(data)
    except Exception as exc:  # the library's SafetensorError and friends: one kind of error here
        raise ValueError(f"load_safetensors: {path}: {exc}") from None
    return OrderedDict((name, tensors[name]) for _, name in sorted(spans))
