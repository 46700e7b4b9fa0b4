"""The application layer for training: ``fit`` / ``evaluate`` / ``predict`` and the ``Trainer``
(:mod:`.loop`), callbacks, metrics, plots, ``summary`` and the ready-made models. It builds on
the core (modules, layers, losses, optimizers, kernels) and on :mod:`nnx.io`; nothing in the
core imports it."""
from . import callbacks, metrics, models, plot
from .loop import History, Trainer, evaluate, fit, predict
from .summary import Summary, summary

__all__ = ["History", "Summary", "Trainer", "callbacks", "evaluate", "fit", "metrics", "models", "plot",
           "predict", "summary"]
