"""Callbacks for ``nnx.fit``: early stopping, checkpoints, LR schedules, CSV/JSON logs.

A callback overrides any of the hooks below; each receives the running ``Trainer`` (its
``model``, ``optimizer``, ``history`` and ``stop_training`` flag). ``logs`` is the epoch's
record: ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (when there
is validation data and labels), ``lr``, ``time``, ``samples_per_sec``.

A callback that remembers something across epochs returns it from ``state_dict`` and takes it
back in ``load_state_dict``: a resumable checkpoint (``ModelCheckpoint(save_optimizer=True)``)
stores it, and ``fit(resume=...)`` restores it after ``on_train_begin``.
"""
import csv
import io
import json
import math
import os
import warnings

import numpy as np

from .._validation import caller_stacklevel, check_real
from ..io.atomic import atomic_write, check_writable


def _check_output(path, where):
    """Refuse at ``on_train_begin`` what would fail at the first write, after an epoch of work: a
    missing or unwritable folder (a path with ``{...}`` fields: its folder part, if fixed)."""
    folder = os.path.dirname(path)
    if "{" not in folder:
        try:
            check_writable(os.path.join(folder, "x") if "{" in path else path, f"{where}: path")
        except OSError as exc:
            raise type(exc)(f"{where}: {exc}") from None


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, trainer):
        """Before the first epoch (after ``fit`` checked its arguments)."""

    def on_epoch_begin(self, trainer, epoch):
        """Before epoch ``epoch`` (0-based) trains."""

    def on_batch_end(self, trainer, batch, logs):
        """``logs``: ``{"loss": batch loss, "size": batch size}``."""

    def on_epoch_end(self, trainer, epoch, logs):
        """After epoch ``epoch`` (0-based), its validation and its record in the history."""

    def on_interrupt(self, trainer, epoch, batch):
        """Ctrl-C stopped training mid-epoch, after ``batch`` of ``epoch`` (0-based); called before
        ``on_train_end``. (Ctrl-C during validation stops after the epoch's ``on_epoch_end``.)"""

    def on_train_end(self, trainer, history):
        """After the last epoch, also when training stopped early."""

    def state_dict(self):
        """What to store in a resumable checkpoint (numbers, strings, arrays, lists, dicts), or
        None when the callback keeps nothing across epochs (the default)."""
        return None

    def load_state_dict(self, state):
        """Take back what ``state_dict`` returned (``fit(resume=...)``, after ``on_train_begin``)."""


def _mode(monitor, mode, where):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{where}: mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if "acc" in monitor or "f1" in monitor else "min"
    return mode


class _Monitor:
    """Tracks the best value of one logged quantity."""

    def __init__(self, monitor, mode, min_delta, where):
        if not isinstance(monitor, str):
            raise TypeError(f"{where}: monitor: expected a str such as 'val_loss', got {monitor!r}")
        self.monitor, self.where = monitor, where
        self.mode = _mode(monitor, mode, where)
        self.min_delta = check_real(min_delta, "min_delta", where, low=0)
        self.best = None

    def value(self, logs):
        if self.monitor not in logs:
            raise ValueError(f"{self.where}: monitor {self.monitor!r} is not logged; available: "
                             f"{sorted(logs)} (val_* needs val_data)")
        return float(logs[self.monitor])

    def improved(self, value):
        """True (and remembered) when ``value`` beats the best by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                 else value > self.best + self.min_delta):
            self.best = value
            return True
        return False


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
    patience : int, default 5
    min_delta : float, default 0
        An improvement must exceed it.
    mode : "auto" | "min" | "max"
        auto: maximise names containing "acc" or "f1", minimise the rest.
    restore_best_weights : bool, default False
        At the end, load the parameters of the best epoch back into the model.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience: expected an int >= 0, got {patience!r}")
        self.patience = patience
        self._monitor = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.restore_best_weights = bool(restore_best_weights)
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self._best_state = None

    @property
    def best(self):
        """The best value of ``monitor`` so far (None before the first epoch)."""
        return self._monitor.best

    def on_train_begin(self, trainer):
        self._monitor.best, self.wait, self.stopped_epoch, self.best_epoch = None, 0, None, None

    def on_epoch_end(self, trainer, epoch, logs):
        if self._monitor.improved(self._monitor.value(logs)):
            self.wait, self.best_epoch = 0, logs["epoch"]
            if self.restore_best_weights:
                self._best_state = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = logs["epoch"]
            trainer.stop_training = True
            trainer.history.stop_reason = (f"early stopping: {self._monitor.monitor} did not improve for "
                                           f"{self.wait} epochs (best {self.best:.6g} at epoch {self.best_epoch})")

    def on_train_end(self, trainer, history):
        if self.restore_best_weights and self._best_state is not None:
            trainer.model.load_state_dict(self._best_state)

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_state": None if self._best_state is None else dict(self._best_state)}

    def load_state_dict(self, state):
        self._monitor.best, self.wait, self.best_epoch = state["best"], int(state["wait"]), state["best_epoch"]
        self._best_state = state["best_state"]


class ModelCheckpoint(Callback):
    """Save the model (with ``nnx.save``, atomically) at the end of epochs.

    Parameters
    ----------
    path : str or PathLike
        May contain ``{epoch}`` and any logged name, e.g. ``"ck-{epoch:02d}-{val_loss:.3f}.npz"``.
    monitor : str, default "val_loss"
    mode : "auto" | "min" | "max"
    save_best_only : bool, default True
        Save only when ``monitor`` improves (the file always holds the best model so far).
        When False, save after every epoch, and also when Ctrl-C stops training mid-epoch.
    save_optimizer : bool, default False
        Save ``{"model", "optimizer", "epoch", "logs", "resume"}`` instead of the bare model: a
        file ``fit(resume=path)`` (``python -m nnx train --resume``) continues from, bit-identical
        to a run never interrupted (``resume`` holds the schedule and callbacks' states, the
        random generators, the data order and the position in the epoch). ``nnx.evaluate``,
        ``python -m nnx evaluate``/``predict``/``export`` take it as they take a bare model.
    metadata : dict, optional
        Stored with every file: what the model takes (``nnx.io.input_metadata(input_shape,
        classes=...)``), so ``python -m nnx evaluate``/``predict`` prepare inputs the same way.
        Without an ``input_shape`` in it, the shape of the samples ``fit`` trained on is recorded.

    ``last_path`` is the most recent file written.
    """

    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=True, save_optimizer=False,
                 metadata=None):
        self.path, self.metadata = os.fspath(path), metadata
        self._monitor = _Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.save_best_only = bool(save_best_only)
        self.save_optimizer = bool(save_optimizer)
        self.last_path = None

    @property
    def best(self):
        """The best value of ``monitor`` so far (None before the first epoch)."""
        return self._monitor.best

    def on_train_begin(self, trainer):
        self._monitor.best = None
        if not getattr(trainer, "rank", 0):
            _check_output(self.path, "ModelCheckpoint")

    def _save(self, trainer, epoch, logs):
        from ..io.checkpoint import save
        if getattr(trainer, "rank", 0):  # distributed: every rank holds the same model; rank 0 writes it
            return
        path = self.path.format(**logs) if "{" in self.path else self.path
        obj = trainer.model
        if self.save_optimizer:
            obj = {"model": trainer.model, "optimizer": trainer.optimizer, "epoch": epoch, "logs": logs,
                   "resume": trainer.resume_state()}
        from ..io.checkpoint import nonfinite
        bad = nonfinite(trainer.model)
        if bad is not None:  # a diverged model never replaces the last good file
            warnings.warn(f"ModelCheckpoint: not saving {path}: the model holds {bad[0]:,} NaN or inf values (the "
                          f"first in {bad[1]!r}); the last file written stays", RuntimeWarning,
                          stacklevel=caller_stacklevel())
            return
        meta = dict(self.metadata or {})
        if "input_shape" not in meta and getattr(trainer, "input_shape", None):
            meta["input_shape"] = [int(s) for s in trainer.input_shape]
        self.last_path = save(obj, path, metadata=meta)

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.save_best_only or self._monitor.improved(self._monitor.value(logs)):
            self._save(trainer, logs["epoch"], logs)

    def on_interrupt(self, trainer, epoch, batch):
        if not self.save_best_only:
            self._save(trainer, epoch + 1, {"epoch": epoch + 1, "batch": batch + 1, "interrupted": True})

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self._monitor.best = state["best"]


class LRScheduler(Callback):
    """Step an ``nnx.optim`` schedule after every epoch (default, as torch) or every batch.

    ``fit`` runs LRScheduler callbacks before the others at every hook, so what the others see
    (and a checkpoint stores) is the schedule after this epoch's step.
    """

    def __init__(self, schedule, interval="epoch"):
        if not hasattr(schedule, "step") or not hasattr(schedule, "get_last_lr"):
            raise TypeError(f"LRScheduler: schedule: expected an nnx.optim schedule, got {type(schedule).__name__}")
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRScheduler: interval: expected 'epoch' or 'batch', got {interval!r}")
        self.schedule, self.interval = schedule, interval

    def on_batch_end(self, trainer, batch, logs):
        if self.interval == "batch":
            self.schedule.step()

    def on_epoch_end(self, trainer, epoch, logs):
        if self.interval == "epoch":
            self.schedule.step()

    def state_dict(self):
        return self.schedule.state_dict()

    def load_state_dict(self, state):
        self.schedule.load_state_dict(state)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


class CSVLogger(Callback):
    """One row per epoch in a CSV file (a header first). The file is rewritten whole after every
    epoch (atomically, as JSONLogger's), so a crash or Ctrl-C never leaves a torn last row;
    ``append=True`` keeps the rows already in it."""

    def __init__(self, path, append=False):
        self.path, self.append = os.fspath(path), bool(append)
        self._text = None

    def on_train_begin(self, trainer):
        if getattr(trainer, "rank", 0):  # distributed: rank 0 writes the log
            return
        _check_output(self.path, "CSVLogger")
        self._text, self._keys = "", None
        if self.append and os.path.exists(self.path):
            from ..io.reading import read_regular
            self._text = read_regular(self.path, "CSVLogger", "CSV file").decode("utf-8")
        if self._text and not self._text.endswith("\n"):
            self._text += "\n"

    def on_epoch_end(self, trainer, epoch, logs):
        if self._text is None:
            return
        out = io.StringIO()
        if self._keys is None:
            self._keys = list(logs)
            header = not self._text
        else:
            header = False
        writer = csv.DictWriter(out, fieldnames=self._keys, extrasaction="ignore")
        if header:
            writer.writeheader()
        writer.writerow({k: _plain(logs.get(k, "")) for k in self._keys})
        self._text += out.getvalue()
        with atomic_write(self.path, "w", newline="") as f:
            f.write(self._text)

    def on_train_end(self, trainer, history):
        self._text = None

    def state_dict(self):
        return None if self._text is None else {"text": self._text, "keys": self._keys}

    def load_state_dict(self, state):  # the rows of the epochs before the checkpoint, whatever the file holds now
        if self._text is not None:
            self._text, self._keys = state["text"], state["keys"]


class JSONLogger(Callback):
    """Rewrite a JSON file after every epoch: ``{"params": ..., "epochs": [logs, ...]}``
    (atomically, so it always parses)."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def _write(self, trainer):
        if getattr(trainer, "rank", 0):  # distributed: rank 0 writes the log
            return
        h = trainer.history
        doc = {"params": h.params, "epochs": [{k: _plain(v) for k, v in e.items()} for e in h.epochs],
               "interrupted": h.interrupted, "stop_reason": h.stop_reason}
        with atomic_write(self.path, "w") as f:
            json.dump(doc, f, indent=1)

    def on_train_begin(self, trainer):
        if not getattr(trainer, "rank", 0):
            _check_output(self.path, "JSONLogger")

    def on_epoch_end(self, trainer, epoch, logs):
        self._write(trainer)

    def on_train_end(self, trainer, history):
        self._write(trainer)


def check_callbacks(callbacks):
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks[{i}]: expected an nnx.callbacks.Callback, got {type(cb).__name__}")
    return callbacks


__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LRScheduler", "CSVLogger", "JSONLogger"]
