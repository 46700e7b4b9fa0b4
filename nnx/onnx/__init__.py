"""ONNX export and import (needs ``pip install 'nnx[onnx]'``; onnxruntime runs the files).

``export`` (:mod:`.writer`) writes a Sequential or Graph of built-in layers in its inference form;
``load`` (:mod:`.importer`) reads a file back as an nnx model, validating it as onnxruntime would
and refusing, with :class:`Unsupported` naming the node, what nnx has no layer for (the table of
what it reads is docs/onnx.md, generated from :data:`OPS`); :class:`Backend` runs ONNX's own
backend tests on nnx (:mod:`.backend`).
"""
try:
    import onnx  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("nnx.onnx needs the onnx package: pip install 'nnx[onnx]'") from None

from .backend import Backend, BackendRep
from .importer import MAX_FILE, MAX_VALUES, OPS, Unsupported, from_model, load, op_table
from .writer import IR_VERSION, OPSET, export

__all__ = ["IR_VERSION", "MAX_FILE", "MAX_VALUES", "OPS", "OPSET", "Backend", "BackendRep", "Unsupported", "export",
           "from_model", "load", "op_table"]
