"""Optimizer base class: parameter groups and lazily created per-parameter state, as in torch."""
import copy

import numpy as np

from .._validation import check_real
from ..module import Parameter


class Optimizer:
    """Holds ``param_groups`` (list of dicts with ``"params"`` and hyper-parameters) and
    ``state`` (per-parameter dicts of arrays, created on the first ``step``).

    Parameters
    ----------
    params : iterable of Parameter, or of dicts ``{"params": [...], "lr": ...}``
    defaults : dict
        Hyper-parameters used where a group does not set its own.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        if isinstance(params, Parameter):
            raise TypeError(
                f"{type(self).__name__}: params: expected an iterable of Parameters "
                "(e.g. model.parameters()), got a single Parameter"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: params: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        """Add a group; missing hyper-parameters come from the defaults, then are validated."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with 'params'")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{type(self).__name__}: params: expected nnx.Parameter, got {type(p).__name__}"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._validate(full)
        full["params"] = params
        full.setdefault("initial_lr", full["lr"])
        self.param_groups.append(full)

    def _validate(self, group):
        """Check a group's hyper-parameters; subclasses extend it."""
        check_real(group["lr"], "lr", type(self).__name__, low=0)

    def zero_grad(self):
        """Reset every parameter gradient to zeros."""
        for g in self.param_groups:
            for p in g["params"]:
                p.zero_grad()

    def step(self):
        """Update every parameter from its ``.grad`` (after ``backward``), as the subclass's
        rule says; a parameter whose gradient is all zeros is still updated (weight decay,
        momentum), as torch does."""
        raise NotImplementedError

    def _advance(self, p, *arrays, fill=0.0):
        """``p``'s state with its step count advanced; made on the first step with ``step`` 0
        and one array filled with ``fill`` per name in ``arrays`` (the update's buffers)."""
        state = self.state.get(id(p))
        if not state:  # (an empty entry, as a hand-made state dict may hold, is made too)
            state = self.state[id(p)] = {"step": 0, **{a: np.full_like(p.data, fill) for a in arrays}}
        state["step"] += 1
        return state

    def _param_index(self):
        return {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}

    def state_dict(self):
        """``{"state": {index: {name: array}}, "param_groups": [{hyper-parameters, "params":
        [indices]}]}`` -- plain numbers, lists and array copies (no Parameter objects)."""
        index = self._param_index()
        state = {
            index[pid]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for pid, s in self.state.items()
        }
        groups = []
        for g in self.param_groups:
            d = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            d["params"] = [index[id(p)] for p in g["params"]]
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and per-parameter state saved by ``state_dict``."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups, strict=True)
        ):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved parameter groups do not match "
                "this optimizer's (different number of groups or parameters)"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        new_state = {}
        for key, s in state_dict["state"].items():
            p = params[int(key)]
            entry = {}
            for name, v in s.items():
                if isinstance(v, np.ndarray) and v.shape == p.shape:
                    if v.dtype != p.dtype:
                        raise TypeError(
                            f"{type(self).__name__}.load_state_dict: state[{key}][{name!r}] has "
                            f"dtype {v.dtype}, the parameter has {p.dtype}"
                        )
                    v = v.copy()
                elif isinstance(v, np.ndarray) and v.ndim != 0:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: state[{key}][{name!r}] has shape "
                        f"{v.shape}, the parameter has {p.shape}"
                    )
                entry[name] = v
            new_state[id(p)] = entry
        loaded = []
        for g, saved in zip(self.param_groups, groups, strict=True):
            full = {**g, **{k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}}
            self._validate(full)  # a NaN or negative lr in a file is refused like one in __init__
            loaded.append(full)
        for g, full in zip(self.param_groups, loaded, strict=True):
            g.update(full)
        self.state = new_state

    def __getstate__(self):
        # The per-parameter state is keyed by id(parameter), which a copy or an unpickled
        # optimizer does not share: it travels keyed by position and is keyed again on arrival.
        state = self.__dict__.copy()
        index = self._param_index()
        state["state"] = {index[pid]: s for pid, s in self.state.items() if pid in index}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        params = [p for g in self.param_groups for p in g["params"]]
        self.state = {id(params[i]): s for i, s in state["state"].items()}

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
