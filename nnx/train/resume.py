"""Resumable training: what a checkpoint must hold so ``fit(resume=path)`` continues a run
bit-identically, and putting it back.

``ModelCheckpoint(save_optimizer=True)`` writes ``{"model", "optimizer", "epoch", "logs",
"resume"}``; ``resume`` (:func:`capture`) holds what the model and optimizer states do not:

``position``
    the next epoch (0-based), the batches of it already trained, and that epoch's running sums
    (samples, loss, correct), so an epoch cut by Ctrl-C is finished, not restarted;
``loader``
    the shuffling generator's state at the start of that epoch: the epoch's permutation is drawn
    again, and its first ``batch`` batches skipped;
``drawers``
    the generator state of every module that draws random numbers (Dropout), in ``modules()`` order;
``fit``
    the seed, batch size, training-set size, shuffle flag and world size of the run, checked
    against the continuing one (a different data order could not be bit-identical);
``history``, ``callbacks``
    the epochs' logs so far, and each callback's ``state_dict()`` (the schedule's position
    among them), matched by class and order.
"""
import copy
import warnings

import numpy as np

from .._validation import caller_stacklevel
from ..module import Module

FORMAT = 1


def _generator_state(gen):
    return copy.deepcopy(gen.bit_generator.state)


def _set_generator_state(gen, state, what, where):
    try:
        gen.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{where}: the state of {what} is unusable ({exc})") from None


def capture(trainer):
    """The ``resume`` entry of a checkpoint written now (end of a batch or of an epoch)."""
    pos = trainer.position
    drawers = [m for m in trainer.model.modules() if m.draws_random]
    callbacks = [[type(cb).__name__, state] for cb in trainer.callbacks
                 if (state := cb.state_dict()) is not None]
    return {
        "format": FORMAT,
        "position": {k: pos[k] for k in ("epoch", "batch", "seen", "loss_sum", "correct", "lr") if k in pos},
        "loader": pos["loader"],
        "drawers": [_generator_state(m.get_generator()) for m in drawers],
        "fit": dict(trainer.fit_params),
        "history": [dict(e) for e in trainer.history.epochs],
        "callbacks": callbacks,
    }


def read(path):
    """``(model_state, optimizer_state, resume)`` of a resumable checkpoint, checked; ValueError
    naming ``path`` and what is wrong otherwise."""
    from ..io.checkpoint import load
    where = f"fit: resume: {path}"
    obj = load(path)
    if isinstance(obj, Module):
        raise ValueError(f"{where}: holds a model only; resuming needs a checkpoint written by "
                         "ModelCheckpoint(..., save_optimizer=True) (or `python -m nnx train --checkpoint`)")
    if not isinstance(obj, dict) or not {"model", "optimizer", "resume"} <= set(obj):
        raise ValueError(f"{where}: not a resumable checkpoint (expected the 'model', 'optimizer' and 'resume' "
                         "entries ModelCheckpoint(..., save_optimizer=True) writes)")
    model, state = obj["model"], obj["resume"]
    model_state = model.state_dict() if isinstance(model, Module) else model
    ok = (isinstance(state, dict) and state.get("format") == FORMAT and isinstance(model_state, dict)
          and isinstance(obj["optimizer"], dict) and isinstance(state.get("position"), dict)
          and isinstance(state.get("fit"), dict) and isinstance(state.get("history"), list)
          and isinstance(state.get("drawers"), list) and isinstance(state.get("callbacks"), list))
    if ok:
        pos = state["position"]
        ok = all(type(pos.get(k)) is int and pos[k] >= 0 for k in ("epoch", "batch", "seen", "correct"))
        ok = ok and isinstance(pos.get("loss_sum"), float | int) and isinstance(pos.get("lr", 0.0), float | int)
        ok = ok and (pos["batch"] == 0 or "lr" in pos)
        ok = ok and all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) for c in state["callbacks"])
        ok = ok and all(isinstance(e, dict) for e in state["history"])
    if not ok:
        raise ValueError(f"{where}: malformed resume state (written by another nnx version, or edited)")
    return model_state, obj["optimizer"], state


def check_run(state, params, path):
    """Refuse to continue a run whose data order cannot be the saved one's."""
    saved = state["fit"]
    for key, what in (("n_train", "training samples"), ("batch_size", "batch_size"), ("shuffle", "shuffle")):
        if saved.get(key) != params.get(key):
            raise ValueError(f"fit: resume: {path} was written by a run with {saved.get(key)} {what}, this one has "
                             f"{params.get(key)}: the data order could not continue")
    if saved.get("world") != params.get("world"):
        if state["position"]["batch"]:
            raise ValueError(f"fit: resume: {path} was cut mid-epoch by a run of {saved.get('world')} process(es); "
                             f"this one has {params.get('world')}: resume with as many, or from an epoch's end")
        warnings.warn(f"fit: resume: {path} was written by {saved.get('world')} process(es), this run has "
                      f"{params.get('world')}: the global batch differs, so the run goes on but not as the "
                      "original would have", UserWarning, stacklevel=caller_stacklevel())


def restore(trainer, model_state, optimizer_state, state, batches, path):
    """Put the saved states into the trainer's model, optimizer, generators, history and
    callbacks; return the position ``{"epoch", "batch", "seen", "loss_sum", "correct"}``."""
    where = f"fit: resume: {path}"
    try:
        trainer.model.load_state_dict(model_state)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: its model does not fit this one ({exc})") from None
    try:
        trainer.optimizer.load_state_dict(optimizer_state)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{where}: its optimizer state does not fit this optimizer ({exc})") from None
    drawers = [m for m in trainer.model.modules() if m.draws_random]
    if len(drawers) != len(state["drawers"]):
        raise ValueError(f"{where}: holds {len(state['drawers'])} random generator(s), the model has "
                         f"{len(drawers)} module(s) drawing random numbers")
    for i, (m, s) in enumerate(zip(drawers, state["drawers"], strict=True)):
        _set_generator_state(m.get_generator(), s, f"random module {i} ({type(m).__name__})", where)
    rng = getattr(batches, "rng", None)
    if state["loader"] is not None and isinstance(rng, np.random.Generator):
        _set_generator_state(rng, state["loader"], "the data order", where)
    elif state["loader"] is not None or state["position"]["batch"]:
        warnings.warn(f"{where}: train_data is not an nnx DataLoader, so its order is its own: the run goes on "
                      "from the saved epoch, but not on the data the original would have seen",
                      UserWarning, stacklevel=caller_stacklevel())
    trainer.history.epochs = [dict(e) for e in state["history"]]
    pending = {}
    for name, s in state["callbacks"]:
        pending.setdefault(name, []).append(s)
    for cb in trainer.callbacks:
        queue = pending.get(type(cb).__name__)
        if queue:
            cb.load_state_dict(queue.pop(0))
    left = sorted(name for name, queue in pending.items() if queue)
    if left:
        warnings.warn(f"{where}: no callback here to take the saved state of {', '.join(left)}",
                      UserWarning, stacklevel=caller_stacklevel())
    return dict(state["position"])
