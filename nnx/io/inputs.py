"""The input convention of a saved model: what it expects and how raw data becomes its input.

What a model does to its input is part of the model: a first layer ``nnx.Normalize(mean, std)``
(the CLI's ``train`` and the examples put it there), so ``nnx.load`` + ``nnx.evaluate``, the CLI
and an exported ONNX file all take raw inputs (images in [0, 1] as ``nnx.datasets`` returns
them). What stays beside the model, in the checkpoint's metadata, is what a consumer needs to
shape raw data:

``input_shape``
    one sample as the model takes it, e.g. ``[1, 28, 28]``, or ``[64]`` for an MLP on 8x8 images;
    when absent it is read off the first Linear layer (a CNN without it cannot be used on images).
    ``ModelCheckpoint`` records the shape ``fit`` trained on.
``classes``
    the class names, in output order.
``normalize``
    old files only: ``[mean, std]`` the model was trained on ``(x - mean) / std`` of. ``nnx.load``
    turns a scalar or per-channel one into a leading ``Normalize`` (said once); other shapes stay
    here and :func:`prepare_inputs` applies them.

Every consumer (:func:`prepare_inputs`, which ``python -m nnx evaluate`` and ``predict`` use)
applies exactly that, or refuses with the reason: never a silently different preprocessing.
"""
import warnings

import numpy as np

_MAX_DIM = 1 << 16


def _shape_ok(v):
    return (isinstance(v, list) and 1 <= len(v) <= 3
            and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= _MAX_DIM for s in v))


def _normalize_ok(v):
    if not (isinstance(v, list) and len(v) == 2):
        return False
    try:
        mean, std = (np.asarray(a, np.float64) for a in v)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all())


CHECKS = {  # each metadata key a consumer reads, and the form it must have
    "input_shape": _shape_ok,
    "normalize": _normalize_ok,
    "classes": lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
}


def check_metadata(meta, path):
    """``meta`` if every convention key in it is well formed, else ``ValueError`` naming it."""
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: metadata is not an object")
    for key, ok in CHECKS.items():
        if key in meta and not ok(meta[key]):
            raise ValueError(f"{path}: unusable metadata {key!r} (see nnx.io.inputs for its form)")
    return meta


def input_metadata(input_shape, normalize=None, classes=None, **extra):
    """The metadata dict of the convention (plus ``extra`` keys), for ``nnx.save`` or
    ``ModelCheckpoint``: ``input_metadata((1, 28, 28), classes=names)``. ``normalize`` writes the
    old convention (a ``FutureWarning``): put ``nnx.Normalize(mean, std)`` first in the model."""
    meta = {"input_shape": [int(s) for s in input_shape], **extra}
    if normalize is not None:
        from .._validation import caller_stacklevel
        warnings.warn("input_metadata: normalize= records the preprocessing beside the model, where nnx.load, "
                      "nnx.evaluate and ONNX do not see it; put nnx.Normalize(mean, std) first in the model "
                      "instead", FutureWarning, stacklevel=caller_stacklevel())
        meta["normalize"] = [np.asarray(a, np.float64).tolist() for a in normalize]
    if classes is not None:
        meta["classes"] = [str(c) for c in classes]
    return check_metadata(meta, "input_metadata")


def input_shape(model, meta):
    """The recorded ``input_shape``, else what the model's first layer requires when that fixes
    it (``Module.sample_shape``: a Linear's ``(in_features,)``; a CNN cannot tell), else None."""
    if "input_shape" in meta:
        return tuple(meta["input_shape"])
    shape = model.sample_shape()
    return None if shape is None or None in shape else tuple(shape)


def prepare_inputs(x, meta, model, path="model"):
    """Raw samples ``x`` (N, ...) in [0, 1] -> the float32 input the model was trained on: reshaped
    to the recorded input shape (same number of values per sample) and normalised as recorded.
    ``ValueError`` with the reason when the data cannot be what the model expects."""
    x = np.asarray(x)
    shape = input_shape(model, check_metadata(meta, path))
    if shape is not None:
        if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            raise ValueError(f"{path}: the model expects inputs of shape {shape}, the data have {tuple(x.shape[1:])}")
        x = x.reshape((len(x), *shape))
    x = x.astype(np.float32)
    if "normalize" in meta:
        mean, std = (np.asarray(a, np.float32) for a in meta["normalize"])
        try:
            x = ((x - mean) / std).astype(np.float32)
        except ValueError:
            raise ValueError(f"{path}: recorded normalize does not fit inputs of shape {x.shape[1:]}") from None
    return x
