"""The training loop people would otherwise write by hand: ``fit``, ``evaluate``, ``predict``.

``fit`` runs exactly the step the examples spell out -- ``out = model(x)``,
``loss.forward(out, y)``, ``optimizer.zero_grad()``, ``model.backward(loss.backward())``,
``optimizer.step()`` -- and adds what a long run needs around it: seeded shuffling, a tqdm
progress bar, per-epoch metrics in a ``History``, validation, callbacks and a clean stop on
Ctrl-C (after the current batch; press it twice to abort at once).

Determinism: with the same ``seed`` the data order and the Dropout masks are the same; with
the same thread count every kernel sums in the same order, so the weights after training are
bit-identical (tested). See README "Determinism" for what holds across thread counts.
"""
import contextlib
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings

import numpy as np
from tqdm import tqdm

from .. import _config, _malloc, kernels
from .._validation import caller_stacklevel, check_positive_int
from ..datasets.loader import DataLoader
from ..module import Module
from ..precision import autocast, check_precision
from . import resume as _resume
from .callbacks import LRScheduler, check_callbacks


class History:
    """What ``fit`` measured, one record per completed epoch.

    Attributes
    ----------
    epochs : list of dict
        ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (when
        available), ``lr`` (at the start of the epoch), ``time`` (seconds, training only),
        ``samples_per_sec``.
    params : dict
        ``epochs``, ``batch_size``, ``seed`` (the one used, also when drawn at random),
        ``n_train``, ``threads``, ``backend``.
    interrupted : bool
        Ctrl-C stopped the run (after a completed batch).
    stop_reason : str or None
        Why training ended early (early stopping, Ctrl-C, a non-finite loss).

    ``history["loss"]`` is the list of one quantity over the epochs (Keras's ``history.history``
    is ``history.history``).
    """

    def __init__(self, params=None):
        self.epochs = []
        self.params = dict(params or {})
        self.interrupted = False
        self.stop_reason = None

    def append(self, logs):
        """Record one epoch (a copy of ``logs``)."""
        self.epochs.append(dict(logs))

    @property
    def history(self):
        """``{quantity: [value per epoch]}`` (Keras's ``history.history``)."""
        keys = []
        for e in self.epochs:
            keys += [k for k in e if k not in keys]
        return {k: [e.get(k) for e in self.epochs] for k in keys}

    def __getitem__(self, key):
        if not any(key in e for e in self.epochs):
            raise KeyError(f"History: {key!r} was not logged; logged: {list(self.history)}")
        return [e.get(key) for e in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def __iter__(self):
        return iter(self.epochs)

    def __repr__(self):
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items()
                          if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        return f"History({len(self)} epochs{'; last: ' + shown if shown else ''})"


def _check_data(data, name, where):
    """``(X, y)`` arrays or an iterable of ``(x, y)`` batches (a DataLoader)."""
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], np.ndarray):
        x, y = data
        y = np.asarray(y)
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"{where}: {name}: X has {x.shape[0]} samples but y has shape {y.shape}")
        return x, y
    if isinstance(data, DataLoader) or (hasattr(data, "__iter__") and not isinstance(data, np.ndarray)):
        return data
    raise TypeError(f"{where}: {name}: expected (X, y) arrays or a DataLoader, got {type(data).__name__}")


def _check_finite(x, name, where):
    """Inputs with NaN or inf train nothing and show up later as a "non-finite loss": named here."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.ndim > 1 else ~np.isfinite(x)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{where}: {name}: X holds NaN or inf in {int(bad.sum())} sample(s) (the first: sample "
                             f"{first}); clean or impute the inputs before training")


def _check_val_like_train(train_data, val_data, where):
    """val_data is used only after the first epoch: its dtype and sample shape are checked before it."""
    tx = train_data[0] if isinstance(train_data, tuple) else getattr(train_data, "X", None)
    vx = val_data[0] if isinstance(val_data, tuple) else getattr(val_data, "X", None)
    if not (isinstance(tx, np.ndarray) and isinstance(vx, np.ndarray)):
        return
    if vx.dtype != tx.dtype:
        raise ValueError(f"{where}: val_data: X is {vx.dtype} but train_data's X is {tx.dtype}; the model takes "
                         f"one dtype (convert with X.astype(np.{tx.dtype}))")
    if vx.shape[1:] != tx.shape[1:]:
        raise ValueError(f"{where}: val_data: samples of shape {vx.shape[1:]}, train_data's are {tx.shape[1:]}")


def _check_optimizer_owns(model, optimizer, where):
    """An optimizer built on another model's parameters steps those: training this one would do nothing."""
    mine = {id(p) for p in model.parameters()}
    theirs = [p for g in getattr(optimizer, "param_groups", ()) for p in g.get("params", ())]
    if mine and theirs and not any(id(p) in mine for p in theirs):
        raise ValueError(f"{where}: optimizer: none of its {len(theirs)} parameters belongs to the model, so "
                         "training would change nothing (was it built on another model's parameters? build it "
                         "on model.parameters())")


def _is_classification(out, y):
    return out.ndim == 2 and y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _count_correct(out, y):
    return int(np.count_nonzero(out.argmax(axis=1) == y))


class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between batches; the second one aborts."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nnnx: stopping after this batch (Ctrl-C again to abort now)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _progress(progress, total, desc):
    """A tqdm bar: on stderr when it is a terminal (progress=True), always on a given stream."""
    if progress is False or progress is None:
        return tqdm(total=total, disable=True)
    if progress is True:
        # A terminal that reports a 0x0 size (fresh ptys, some CI runners) makes tqdm draw
        # nothing; get_terminal_size falls back to $COLUMNS/$LINES or 80x24 there.
        size = shutil.get_terminal_size()
        return tqdm(total=total, desc=desc, unit="samples", unit_scale=True, leave=False, ncols=size.columns,
                    nrows=size.lines,
                    disable=not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()))
    if hasattr(progress, "write"):
        return tqdm(total=total, desc=desc, unit="samples", unit_scale=True, leave=False, file=progress, disable=False,
                    mininterval=0)
    raise TypeError(f"fit: progress: expected a bool or a writable stream, got {type(progress).__name__}")


def _check_seed(seed):
    """``fit``'s seed, or a drawn one when it is None (recorded in the History to reproduce a run)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"fit: seed: expected a non-negative int or None, got {seed!r}")
    return int(seed)


class LocalStep:
    """The training step of one process: forward, loss, ``zero_grad``, the explicit backward (no
    gradient for the data), optimizer step. ``DataParallelStep`` (nnx.distributed) is the same
    step over MPI ranks; ``fit`` only calls ``step``.

    Attributes
    ----------
    rank, world : int
        This process's rank and the number of processes (0 and 1 here).
    classify : bool or None
        Whether the targets are class labels (accuracy is counted); known after the first step.
    """

    rank, world = 0, 1

    def __init__(self, model, loss, optimizer):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.classify = None

    def shared_seed(self, seed):
        """The seed every process uses (here: ``seed``)."""
        return seed

    def agree_on_data(self, train_data):
        """Check that every process trains on the same data (here: one process, nothing to do)."""

    def guard(self):
        """A context for the whole run (the data-parallel one stops every rank when one fails)."""
        return contextlib.nullcontext()

    def step(self, xb, yb):
        """Train on one batch; return its ``(mean loss, samples, correctly classified)``."""
        model, loss, opt = self.model, self.loss, self.optimizer
        out = model.forward(xb)
        value = loss.forward(out, yb)
        opt.zero_grad()
        model.backward(loss.backward(), input_grad=False)
        opt.step()
        return value, xb.shape[0], self._correct(out, yb)

    def _correct(self, out, yb):
        """Correctly classified samples of a batch (0 when the targets are not class labels,
        which the first batch decides)."""
        if self.classify is None:
            self.classify = _is_classification(out, np.asarray(yb))
        return _count_correct(out, yb) if self.classify else 0


class Trainer:
    """A model, its loss and optimizer, trained with ``fit`` and used with ``evaluate``/``predict``.

    Parameters
    ----------
    model : Module
    loss : nnx loss (``forward(outputs, targets)`` -> float, ``backward()``)
    optimizer : nnx.optim optimizer over ``model.parameters()``
    schedule : nnx.optim schedule, optional
        Stepped after every epoch (use ``callbacks.LRScheduler(s, "batch")`` for per batch).
    callbacks : iterable of nnx.callbacks.Callback
        Run in the order given, except that ``LRScheduler`` ones run first (what the others see,
        and a checkpoint stores, is the schedule after its step).

    ``stop_training`` set to True by a callback ends ``fit`` after the current epoch.
    """

    def __init__(self, model, loss, optimizer, schedule=None, callbacks=()):
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model: expected an nnx.Module, got {type(model).__name__}")
        if not (hasattr(loss, "forward") and hasattr(loss, "backward")):
            raise TypeError(f"Trainer: loss: expected an nnx loss, got {type(loss).__name__}")
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(f"Trainer: optimizer: expected an nnx.optim optimizer, got {type(optimizer).__name__}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.callbacks = check_callbacks(callbacks)
        if schedule is not None:
            self.callbacks.insert(0, LRScheduler(schedule))
        self.callbacks.sort(key=lambda cb: not isinstance(cb, LRScheduler))  # stable: schedulers first
        self.steps, self.rank = None, 0  # fit's step (LocalStep, or data-parallel) and this process's rank
        self.input_shape = None  # one sample's shape, as fit saw it (ModelCheckpoint records it)
        self.fit_params, self.position = {}, None  # what a resumable checkpoint stores (train.resume)
        self.history = History()
        self.stop_training = False

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, train_data, epochs=1, val_data=None, batch_size=32, progress=True, seed=None, shuffle=True,
            distributed=False, resume=None):
        """Train for ``epochs`` epochs; return the ``History``.

        Parameters
        ----------
        train_data : (X, y) arrays or a DataLoader (then ``batch_size``/``shuffle`` are its own)
        epochs : int
        val_data : (X, y) arrays or a DataLoader, optional
            Evaluated (eval mode) after every epoch: ``val_loss``, ``val_accuracy``.
        batch_size : int, default 32
        progress : bool or stream
            True: a tqdm bar on stderr when it is a terminal, else (logs, pipes, CI, notebooks)
            one line per epoch on stderr, as Keras's verbose=2; False: silent; a stream: bar there.
        seed : int, optional
            Seeds the shuffling and every Dropout layer's masks (their generators are replaced).
            None draws a seed, recorded in ``history.params["seed"]`` to reproduce the run.
        shuffle : bool, default True
        distributed : bool, default False
            Data-parallel over MPI (``nnx.distributed``): ``batch_size`` samples per rank and step,
            gradients averaged over the global batch, rank 0 reporting and writing files.
        resume : str or PathLike, optional
            A checkpoint written by ``ModelCheckpoint(..., save_optimizer=True)``: the model,
            optimizer, schedule and callback states, the epoch (and the batch, after Ctrl-C), the
            random generators and the data order are restored, and training goes on to
            ``epochs`` epochs in all, ending bit-identical to a run never interrupted (same data,
            arguments and thread count). ``seed`` may be left None (the saved one is used).

        Training tunes glibc's malloc for the process first (``nnx.tune_malloc``: activations
        are reused instead of page-faulted back in every step).
        """
        where = "fit"
        _malloc.tune()
        if not isinstance(distributed, bool):
            raise TypeError(f"fit: distributed: expected a bool, got {distributed!r}")
        if distributed and not (isinstance(train_data, tuple | list) and len(train_data) == 2
                                and isinstance(train_data[0], np.ndarray)):  # before MPI is needed or touched
            raise ValueError("fit: distributed=True takes train_data as (X, y) arrays (each rank takes its share of "
                             "every global batch)")
        with _agreed(distributed):  # a rank whose arguments fail stops every rank, not just itself
            epochs = check_positive_int(epochs, "epochs", where)
            batch_size = check_positive_int(batch_size, "batch_size", where)
            _check_optimizer_owns(self.model, self.optimizer, where)
            train_data = _check_data(train_data, "train_data", where)
            if isinstance(train_data, tuple):
                if len(train_data[0]) == 0:
                    raise ValueError(f"{where}: train_data: got 0 samples")
                _check_finite(train_data[0], "train_data", where)
            if val_data is not None:
                val_data = _check_data(val_data, "val_data", where)
                _check_val_like_train(train_data, val_data, where)
                if isinstance(val_data, tuple):
                    _check_finite(val_data[0], "val_data", where)
            saved = None
            if resume is not None:  # read and checked before any work (and before any collective call)
                saved = _resume.read(_check_path(resume, "resume", where))
                seed = _resume_seed(seed, saved[2], resume)
            seed = _check_seed(seed)
        steps = self._strategy(distributed, train_data)
        with steps.guard():  # from here on, a failure on one rank ends every rank
            return self._run(steps, train_data, val_data, epochs, batch_size, progress, seed, shuffle, saved, resume)

    def _run(self, steps, train_data, val_data, epochs, batch_size, progress, seed, shuffle, saved, resume):
        """``fit`` once its arguments are checked and its step is made."""
        if isinstance(train_data, tuple):
            steps.agree_on_data(train_data)
        if steps.rank:
            progress = False  # rank 0 reports
        seed = steps.shared_seed(seed)
        shuffle_ss, model_ss = np.random.SeedSequence(seed).spawn(2)
        self.model.reseed(model_ss)  # every layer that draws random numbers (Dropout) its own stream
        batches, n_train = train_data, None
        if isinstance(train_data, tuple):  # a global batch: batch_size samples per rank
            batches = DataLoader(*train_data, batch_size=batch_size * steps.world, shuffle=shuffle,
                                 rng=np.random.default_rng(shuffle_ss))
            n_train = train_data[0].shape[0]
        self.input_shape = tuple(train_data[0].shape[1:]) if isinstance(train_data, tuple) else None
        self.history = history = History({
            "epochs": epochs, "batch_size": batch_size, "seed": seed, "n_train": n_train,
            "threads": _config.get_num_threads(), "backend": kernels.get_backend_name(),
        })
        self.fit_params = {"seed": seed, "batch_size": batch_size, "n_train": n_train, "shuffle": bool(shuffle),
                           "world": steps.world}
        self.position = {"epoch": 0, "batch": 0, "seen": 0, "loss_sum": 0.0, "correct": 0,
                         "loader": _loader_state(batches)}
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        if saved is not None:
            _resume.check_run(saved[2], self.fit_params, resume)
            self.position.update(_resume.restore(self, *saved, batches, resume))
            history.params["resumed_from"] = {"path": str(resume), "epoch": self.position["epoch"],
                                              "batch": self.position["batch"]}
        with _Interrupt() as interrupt:
            for epoch in range(self.position["epoch"], epochs):
                if not self._epoch(steps, epoch, epochs, batches, val_data, batch_size, progress, interrupt):
                    break
        for cb in self.callbacks:
            cb.on_train_end(self, history)
        self.model.clear_caches()  # the last batch's activations: not carried by the trained model
        if isinstance(self.loss, Module):
            self.loss.clear_caches()
        return history

    def resume_state(self):
        """What a resumable checkpoint stores beside the model and optimizer (``train.resume``)."""
        if self.position is None:
            raise RuntimeError("Trainer.resume_state: only during fit")
        return _resume.capture(self)

    def _strategy(self, distributed, train_data):
        """The step: this process's (``LocalStep``), or a data-parallel one over MPI."""
        self.steps = LocalStep(self.model, self.loss, self.optimizer)
        if not distributed:
            _warn_if_launched_as_ranks()
        if distributed:
            from ..distributed import DataParallelStep
            self.steps = DataParallelStep(self.model, self.loss, self.optimizer)  # broadcasts rank 0's state
        self.rank = self.steps.rank
        return self.steps

    def _epoch(self, steps, epoch, epochs, batches, val_data, batch_size, progress, interrupt):
        """One epoch, its validation, its line and its callbacks; False when training stops."""
        logs, bar = self._train_epoch(steps, epoch, epochs, batches, progress, interrupt)
        if logs is None:
            return False
        if val_data is not None:
            val = self.evaluate(val_data, batch_size=max(batch_size, 256))
            logs.update({f"val_{k}": v for k, v in val.items() if k != "n"})
        shown = bar.disable is False
        bar.close()
        if shown:  # the live bar goes; one permanent line per epoch stays
            tqdm.write(_epoch_line(epochs, logs), file=progress if hasattr(progress, "write") else sys.stderr)
        elif progress is True:  # no terminal for a bar: the line alone
            print(_epoch_line(epochs, logs), file=sys.stderr, flush=True)
        history = self.history
        history.append(logs)
        self.position = {"epoch": epoch + 1, "batch": 0, "seen": 0, "loss_sum": 0.0, "correct": 0,
                         "loader": _loader_state(batches)}  # the next epoch's permutation is not drawn yet
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)
        if interrupt.requested and not history.interrupted:  # Ctrl-C during validation/callbacks
            history.interrupted = True
            history.stop_reason = f"interrupted (Ctrl-C) at the end of epoch {epoch + 1}"
        return not (self.stop_training or interrupt.requested)

    def _train_epoch(self, steps, epoch, epochs, batches, progress, interrupt):
        """One pass over the data: ``(logs, open progress bar)``, or ``(None, None)`` if stopped."""
        model, opt = self.model, self.optimizer
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        x_all = getattr(batches, "X", None)  # a DataLoader: the bar counts samples (tqdm shows samples/s)
        total = x_all.shape[0] if isinstance(x_all, np.ndarray) else None
        if total is not None and getattr(batches, "drop_last", False):
            total = len(batches) * batches.batch_size
        n_batches = len(batches) if hasattr(batches, "__len__") else None
        bar = _progress(progress, total, f"epoch {epoch + 1}/{epochs}")
        model.train()
        pos = self.position  # where this epoch starts: batch 0, or where a resumed run stopped
        skip, seen, loss_sum, correct = pos["batch"], pos["seen"], pos["loss_sum"], pos["correct"]
        if not skip:  # the epoch's logged lr is the one it started with, also when resumed mid-epoch
            pos["lr"] = float(opt.param_groups[0]["lr"]) if hasattr(opt, "param_groups") else float("nan")
        lr = pos["lr"]
        if skip:
            bar.update(seen)
        t0, seen0 = time.perf_counter(), seen
        for b, (xb, yb) in enumerate(batches):
            if b < skip:  # trained before the checkpoint (the permutation is drawn again, the same)
                continue
            if self.input_shape is None:
                self.input_shape = tuple(np.shape(xb)[1:])
            value, n, good = steps.step(xb, yb)
            seen, loss_sum, correct = seen + n, loss_sum + value * n, correct + good
            self.position = {**pos, "batch": b + 1, "seen": seen, "loss_sum": loss_sum, "correct": correct}
            for cb in self.callbacks:
                cb.on_batch_end(self, b, {"loss": value, "size": n})
            if bar.disable is False and (b % 10 == 0 or b + 1 == n_batches):
                accuracy = correct / seen if steps.classify else None
                bar.set_postfix(_postfix({"loss": loss_sum / seen, "accuracy": accuracy}), refresh=False)
            bar.update(n)
            if not math.isfinite(value):
                cause = ("its inputs hold NaN or inf" if isinstance(xb, np.ndarray) and xb.dtype.kind == "f"
                         and not np.isfinite(xb).all() else "lower the learning rate?")
                warnings.warn(f"fit: the loss became {value} in epoch {epoch + 1}, batch {b + 1}; "
                              f"stopping ({cause})", RuntimeWarning, stacklevel=caller_stacklevel())
                self.history.stop_reason = f"non-finite loss in epoch {epoch + 1}"
                self.stop_training = True
                break
            if interrupt.requested:
                bar.close()
                self.history.interrupted = True
                self.history.stop_reason = f"interrupted (Ctrl-C) in epoch {epoch + 1} after batch {b + 1}"
                for cb in self.callbacks:
                    cb.on_interrupt(self, epoch, b)
                return None, None
        elapsed = time.perf_counter() - t0
        logs = {"epoch": epoch + 1, "loss": loss_sum / seen if seen else float("nan")}
        if steps.classify:
            logs["accuracy"] = correct / seen
        rate = (seen - seen0) / elapsed if elapsed > 0 else float("nan")
        logs.update({"lr": lr, "time": elapsed, "samples_per_sec": rate})
        return logs, bar

    # -- inference ----------------------------------------------------------------------------
    def evaluate(self, data, batch_size=1000):
        """Loss (and accuracy for class labels) over ``data`` in eval mode; see ``nnx.evaluate``."""
        return evaluate(self.model, data, loss=self.loss, batch_size=batch_size)

    def predict(self, x, batch_size=1000):
        """The model's outputs for ``x`` in eval mode; see ``nnx.predict``."""
        return predict(self.model, x, batch_size=batch_size)


_launched_warning = []


def _agreed(distributed):
    """For a distributed fit, the checks before its first collective call are agreed on by every
    rank (``nnx.distributed.agreed``); in one process, nothing to agree on."""
    if not distributed:
        return contextlib.nullcontext()
    from ..distributed import agreed
    return agreed("fit(distributed=True)")


def _warn_if_launched_as_ranks():
    """Under ``mpiexec -n N`` without ``distributed=True`` every rank trains on everything and
    writes the same files: said once per process."""
    from ..distributed import ranks_in_environment
    found = ranks_in_environment()
    if found and not _launched_warning:
        _launched_warning.append(True)
        warnings.warn(f"fit: this process is one of {found[1]} MPI ranks ({found[0]}={found[1]}) but "
                      "distributed=False: every rank trains on all the data and writes the same files; pass "
                      "distributed=True (CLI: --distributed) to share the work", UserWarning,
                      stacklevel=caller_stacklevel())


def _loader_state(batches):
    """The shuffling generator's state (an nnx DataLoader's), or None for another iterable."""
    rng = getattr(batches, "rng", None)
    return _resume._generator_state(rng) if isinstance(rng, np.random.Generator) else None


def _check_path(path, name, where):
    if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"{where}: {name}: expected a path (str or PathLike), got {type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{where}: {name}: {path} is a directory, not a checkpoint file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: {name}: {path}: no such file")
    return path


def _resume_seed(seed, state, path):
    """The saved run's seed; a different explicit one is refused (another data order)."""
    saved = state["fit"].get("seed")
    if seed is not None and seed != saved:
        raise ValueError(f"fit: seed: {seed!r}, but {path} was written by a run with seed {saved!r}: leave seed "
                         "None (or give that one) to resume")
    return saved


def _epoch_line(epochs, logs):
    parts = [f"epoch {logs['epoch']}/{epochs}:"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    parts.append(f"({logs['time']:.1f} s, {logs['samples_per_sec']:,.0f} samples/s, lr {logs['lr']:.3g})")
    return " ".join(parts)


def _postfix(logs):
    out = {}
    for key, short in (("loss", "loss"), ("accuracy", "acc"), ("val_loss", "val_loss"),
                       ("val_accuracy", "val_acc")):
        v = logs.get(key)
        if v is not None:
            out[short] = f"{v:.4f}"
    return out


class _EvalMode:
    """Run a block in eval mode and restore the module's previous mode afterwards."""

    def __init__(self, model):
        self.model, self.was = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was)
        return False


def _batches(x, batch_size):
    for i in range(0, x.shape[0], batch_size):
        yield x[i:i + batch_size]


def evaluate(model, data, loss=None, batch_size=1000):
    """Evaluate ``model`` on ``data`` in eval mode (restores the previous mode).

    Parameters
    ----------
    model : Module
    data : (X, y) arrays or a DataLoader of (x, y) batches
    loss : nnx loss, optional
    batch_size : int

    Returns
    -------
    dict
        ``loss`` (sample-weighted mean, when ``loss`` is given), ``accuracy`` (when ``y`` holds
        class indices and the outputs are (N, C) scores), ``n`` (samples).
    """
    if not isinstance(model, Module):
        raise TypeError(f"evaluate: model: expected an nnx.Module, got {type(model).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", "evaluate")
    data = _check_data(data, "data", "evaluate")
    if isinstance(data, tuple):
        x, y = data
        pairs = zip(_batches(x, batch_size), _batches(y, batch_size), strict=True)  # same length: checked
    else:
        pairs = iter(data)
    n, loss_sum, correct, classify = 0, 0.0, 0, None
    with _EvalMode(model):
        for xb, yb in pairs:
            out = model.forward(xb)
            yb = np.asarray(yb)
            if classify is None:
                classify = _is_classification(out, yb)
            if classify:
                _check_labels(yb, out.shape[1], "evaluate")
                correct += _count_correct(out, yb)
            if loss is not None:
                loss_sum += loss.forward(out, yb) * xb.shape[0]
            n += xb.shape[0]
    model.clear_caches()  # eval-mode BatchNorm keeps what a backward in eval mode would need
    if isinstance(loss, Module):
        loss.clear_caches()
    result = {}
    if loss is not None:
        result["loss"] = loss_sum / n if n else float("nan")
    if classify:
        result["accuracy"] = correct / n
    result["n"] = n
    return result


def _check_labels(y, classes, where):
    """Class labels outside the model's outputs would count as wrong, silently: refused, as fit's
    loss refuses them."""
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(f"{where}: data: label {bad} is outside the model's {classes} classes (0..{classes - 1})")


def predict(model, x, batch_size=1000):
    """``model``'s outputs for ``x`` (batched, eval mode, previous mode restored), as one array."""
    if not isinstance(model, Module):
        raise TypeError(f"predict: model: expected an nnx.Module, got {type(model).__name__}")
    if not isinstance(x, np.ndarray) or x.ndim < 1:
        raise TypeError(f"predict: x: expected an ndarray with a batch axis, got {type(x).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", "predict")
    with _EvalMode(model):
        outs = [model.forward(xb) for xb in _batches(x, batch_size)]
    model.clear_caches()
    if not outs:
        raise ValueError("predict: x: got 0 samples")
    return np.concatenate(outs, axis=0)


def fit(model, loss, optimizer, train_data, epochs=1, val_data=None, batch_size=32, schedule=None,
        callbacks=(), progress=True, seed=None, shuffle=True, *, precision="fp32", distributed=False, resume=None):
    """Train ``model``: ``Trainer(model, loss, optimizer, schedule, callbacks).fit(...)``.

    See ``Trainer.fit`` for the arguments; returns the ``History``. ``precision="bf16"`` (or
    ``"bfloat16"``) trains
    (and validates) under ``nnx.autocast("bfloat16")``: bf16 GEMM and convolution operands,
    float32 everything else (see ``nnx.precision``); ``"fp32"`` (``"float32"``) leaves the precision as it is
    (the model's dtype, or an enclosing ``autocast``).
    ``distributed=True`` trains data-parallel over MPI (``nnx.distributed``). ``resume=path``
    continues the run a ``ModelCheckpoint(..., save_optimizer=True)`` file was written by.
    """
    precision = check_precision(precision, "fit")
    if not isinstance(distributed, bool):
        raise TypeError(f"fit: distributed: expected a bool, got {distributed!r}")
    trainer = Trainer(model, loss, optimizer, schedule=schedule, callbacks=callbacks)
    with autocast("bfloat16") if precision == "bf16" else contextlib.nullcontext():
        return trainer.fit(train_data, epochs=epochs, val_data=val_data, batch_size=batch_size,
                           progress=progress, seed=seed, shuffle=shuffle, distributed=distributed, resume=resume)
