"""nnx as a backend for ONNX's test harness (``onnx.backend.base.Backend``): ``prepare`` checks a
model, ``run`` builds it with :func:`~nnx.onnx.importer.from_model` and runs it in eval mode.

An nnx model computes from one input; the weights of ONNX's node tests are graph inputs, so
``run`` takes the first input as the data and the others as constants (initializers).
"""
import numpy as np
from onnx.backend.base import Backend as _Backend
from onnx.backend.base import BackendRep as _BackendRep

from .importer import from_model


class BackendRep(_BackendRep):
    """A prepared model; ``run(inputs)`` returns its outputs as a tuple."""

    def __init__(self, model):
        self.proto = model

    def run(self, inputs, **kwargs):
        """The model's output for ``inputs[0]``, the other inputs taken as constants."""
        inputs = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
        model = from_model(self.proto, "backend model", bind=inputs[1:])  # refuses a graph without input
        return (np.asarray(model.eval().forward(np.asarray(inputs[0]))),)


class Backend(_Backend):
    """``onnx.backend.base.Backend`` over nnx (CPU)."""

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        """Check ``model`` (a ModelProto) and return a :class:`BackendRep`."""
        super().prepare(model, device, **kwargs)  # onnx.checker
        return BackendRep(model)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        """``prepare(model).run(inputs)``."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device):
        """nnx runs on the CPU."""
        return device in ("CPU", "cpu")
