"""Parameter, Module and Sequential: the thin layer that turns kernels into models.

A Module computes ``forward`` and, in training mode, keeps exactly what its explicit
``backward`` needs. ``backward(grad_out)`` returns the gradient w.r.t. the input and *adds*
parameter gradients into ``.grad``; it never writes into ``grad_out``. As in PyTorch,
parameters and sub-modules are registered when assigned as attributes, and names are dotted
(``"0.weight"``).
"""
import inspect
from collections import OrderedDict, namedtuple

import numpy as np

from ._validation import check_dtype

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_BUILTIN = {}  # class name -> nnx's own Module subclass (filled by Module.__init_subclass__)


class StateDictError(ValueError, RuntimeError):
    """A state dict does not fit the module (missing/unexpected key, shape or dtype).

    It is both a ``ValueError`` (nnx's convention for bad input) and a ``RuntimeError``
    (what ``torch.nn.Module.load_state_dict`` raises), so code written for either catches it.
    """


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : ndarray
        float32 or float64; stored C-contiguous (copied only when needed).

    ``data`` is the array; ``grad`` (same shape and dtype) holds zeros until a backward pass adds
    into it. Gradients are added through ``accumulate``, the one way layers and penalties contribute.
    ``zero_grad()`` is lazy: it only marks the gradient as zero, and the next ``accumulate``
    *writes* its contribution instead of reading zeros and adding (a whole pass over memory
    saved per step); reading ``.grad`` in between gives real zeros.
    """

    __slots__ = ("data", "_grad", "_grad_is_zero")

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"Parameter: data: expected a numpy.ndarray, got {type(data).__name__}")
        check_dtype(data.dtype, "data", "Parameter")
        self.data = np.ascontiguousarray(data)
        self._grad = np.zeros_like(self.data)
        self._grad_is_zero = False

    def __getstate__(self):
        # Pickled (and deep-copied) as the data alone: a gradient is a training step's scratch,
        # as large as the weights; it comes back as zeros.
        return {"data": self.data}

    def __setstate__(self, state):
        self.data = state["data"]
        self._grad = np.zeros_like(self.data)
        self._grad_is_zero = False

    @property
    def grad(self):
        """The accumulated gradient (same shape and dtype as ``data``); zeros after ``zero_grad``."""
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value):
        if not isinstance(value, np.ndarray) or value.shape != self.data.shape \
                or value.dtype != self.data.dtype:
            raise ValueError(
                f"Parameter.grad: expected an array of shape {self.data.shape} and dtype "
                f"{self.data.dtype}, got {getattr(value, 'shape', type(value).__name__)}"
            )
        self._grad = np.ascontiguousarray(value)
        self._grad_is_zero = False

    def accumulate(self, contribution):
        """``grad += contribution``.

        ``contribution`` is an array (broadcastable to the parameter), or a callable
        ``write(grad, beta)`` that computes ``grad := c + beta * grad`` in place itself (a kernel
        with ``out=`` and ``beta=``, e.g. the weight-gradient GEMM, so no temporary is made).
        Right after ``zero_grad`` beta is 0 and the contribution is written, not added.
        """
        beta = 0.0 if self._grad_is_zero else 1.0
        self._grad_is_zero = False
        if callable(contribution):
            contribution(self._grad, beta)
        elif beta == 0.0:
            np.copyto(self._grad, contribution)
        else:
            self._grad += contribution

    @property
    def shape(self):
        """``data.shape``."""
        return self.data.shape

    @property
    def dtype(self):
        """``data.dtype``."""
        return self.data.dtype

    @property
    def size(self):
        """``data.size``."""
        return self.data.size

    def zero_grad(self):
        """Mark the gradient as zero (materialised lazily, see the class docstring)."""
        self._grad_is_zero = True

    def bind_grad(self, array):
        """Keep the gradient in ``array`` from now on (same shape and dtype, e.g. a view of one flat
        buffer that a data-parallel step sums across processes in one call), with its current value.

        Raises
        ------
        ValueError
            When ``array`` does not have the parameter's shape and dtype.
        """
        if not isinstance(array, np.ndarray) or array.shape != self.data.shape or array.dtype != self.data.dtype:
            raise ValueError(f"Parameter.bind_grad: expected an array of shape {self.data.shape} and dtype "
                             f"{self.data.dtype}, got {getattr(array, 'shape', type(array).__name__)}")
        array[...] = self.grad
        self._grad = array
        self._grad_is_zero = False

    def grad_in(self, buffer):
        """Whether the gradient lives in ``buffer`` (bound to a view of it with ``bind_grad``)."""
        return self._grad is buffer or self._grad.base is buffer

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and model.

    Subclasses implement ``forward(*inputs)`` and ``backward(grad_out, *, input_grad=True)``:
    backward adds parameter gradients with ``Parameter.accumulate`` and returns the gradient
    w.r.t. the input. ``input_grad=False`` says the input is the data, whose gradient nobody
    wants: layers with parameters then skip it and return ``None`` (the first Linear skips its
    largest GEMM), containers return ``None``, and cheap parameter-free layers may ignore it.
    A layer may also offer to ``fuse`` with the module after it (see ``Sequential``).
    """

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.__module__.startswith("nnx.") and not cls.__name__.startswith("_"):
            _BUILTIN[cls.__name__] = cls  # nnx's own layers and containers: see architecture()

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_module_ids", (id(self), set()))  # see _ids()
        object.__setattr__(self, "training", True)

    #: The instance attributes a layer keeps its forward cache in (what ``backward`` needs from
    #: the last training-mode ``forward``: inputs, masks, outputs -- the training data's rows).
    #: ``clear_caches`` drops them, and a pickled or copied module never carries them.
    CACHE_ATTRS = ("_cache", "_x", "_y", "_mask", "_shape", "_grad", "_n")

    def clear_caches(self):
        """Drop the forward cache of this module and every module in it (``fit`` and
        ``predict`` do it when they return; pickling and ``nnx.save`` never store a cache). A
        ``backward`` after it raises until the next training-mode ``forward``."""
        for m in self.modules():
            for name in m.CACHE_ATTRS:
                if m.__dict__.get(name) is not None:
                    object.__setattr__(m, name, None)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self.CACHE_ATTRS:
            if name in state:
                state[name] = None
        return state

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, mods, bufs = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self._drop_module(name)
            bufs.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            bufs.pop(name, None)
            self._drop_module(name)
            mods[name] = value
            self._ids().add(id(value))
        elif name in bufs and isinstance(value, np.ndarray):
            bufs[name] = value
        else:  # a plain attribute, e.g. ``self.bias = None``, unregisters whatever was there
            params.pop(name, None)
            self._drop_module(name)
            bufs.pop(name, None)
        object.__setattr__(self, name, value)

    def _drop_module(self, name):
        old = self._modules.pop(name, None)
        if old is not None and not any(m is old for m in self._modules.values()):  # (a module held twice)
            self._ids().discard(id(old))

    def _ids(self):
        """The ``id()`` of every direct submodule, kept as they are registered, so that
        ``_holds`` is O(1) and building a container of n modules (which refuses to hold one
        instance twice) is O(n), not O(n^2). A copy or an unpickled module has new submodules:
        the set remembers whose it is and is rebuilt then."""
        owner, ids = self.__dict__["_module_ids"]
        if owner != id(self):
            ids = {id(m) for m in self._modules.values()}
            object.__setattr__(self, "_module_ids", (id(self), ids))
        return ids

    def _holds(self, module):
        """Whether ``module`` (this very instance) is a direct submodule."""
        return id(module) in self._ids() and any(m is module for m in self._modules.values())

    def register_buffer(self, name, array):
        """Register a non-trainable array (e.g. running statistics) saved in ``state_dict``."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"register_buffer: {name}: expected a numpy.ndarray, got {type(array).__name__}")
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -- forward / backward -------------------------------------------------------------------
    def forward(self, *inputs):
        """The output for ``inputs`` (``module(x)`` calls it). In training mode it caches what
        ``backward`` needs, and only that; in eval mode it caches nothing."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_out, *, input_grad=True):
        """Given ``grad_out`` (d loss / d output of the last ``forward``), add every parameter's
        gradient to its ``.grad`` (gradients accumulate until ``zero_grad``) and return d loss /
        d input, or None with ``input_grad=False`` (the first layer of a model, as torch skips
        the data's gradient)."""
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def fuse(self, next_module):
        """A callable running this module and ``next_module`` as one step, or ``None``.

        ``Sequential`` asks each module about the one after it; a layer that can do the next
        one's work in its own pass (Linear or Conv2d + ReLU) returns the fused forward, which
        must leave both modules' caches as two separate forwards would. Default: no fusion.
        """
        return None

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def _need_cache(self, cache, what="forward"):
        """Raise the standard error when backward runs without a training-mode forward."""
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no cached {what}; call forward in training "
                "mode (model.train()) before backward"
            )
        return cache

    # -- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """Yield ``(name, module)`` for this module and every descendant (depth first)."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """This module and every module inside it, depth first (each once)."""
        for _, m in self.named_modules():
            yield m

    def children(self):
        """The direct submodules, in registration order."""
        yield from self._modules.values()

    def named_children(self):
        """``(name, module)`` of the direct submodules, in registration order."""
        yield from self._modules.items()

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two modules appears once."""
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        """Yield every Parameter once (a generator, as in torch)."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix=""):
        """``(dotted_name, array)`` of every buffer (state that is not learnt: running means,
        Normalize's constants), as ``named_parameters`` does for parameters."""
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def num_parameters(self):
        """Total number of scalar parameters."""
        return int(sum(p.size for p in self.parameters()))

    # -- modes and gradients ------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode on this module and all descendants; return ``self``."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode: expected a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Set evaluation mode (no caches kept); return ``self``."""
        return self.train(False)

    def zero_grad(self):
        """Reset every parameter gradient to zeros."""
        for p in self.parameters():
            p.zero_grad()

    # -- what a module knows about itself -------------------------------------------------------
    # The questions the application asks of a model (nnx.summary, the input convention of
    # checkpoints, ONNX export, plots, fit's seeding) are answered by each layer here, not by
    # tests of its class elsewhere: a new layer answers them or gets these defaults.
    def output_shape(self, *input_shapes):
        """The output's shape for inputs of ``input_shapes`` (batch axis included). Default: a
        forward pass on zeros in eval mode (the layers that know their shapes answer directly)."""
        was_training = self.training
        self.eval()
        try:
            p = next(self.parameters(), None)
            dtype = p.dtype if p is not None else np.float32
            return tuple(self.forward(*(np.zeros(s, dtype) for s in input_shapes)).shape)
        finally:
            self.train(was_training)

    def flops(self, *input_shapes):
        """Forward FLOPs on inputs of ``input_shapes`` (a multiply-add counts 2), or None when
        unknown. Default: one per output element and extra input (an elementwise layer) for a
        module without children; None for one with children (containers answer themselves)."""
        if next(self.children(), None) is not None:
            return None
        return int(np.prod(self.output_shape(*input_shapes))) * max(1, len(input_shapes) - 1)

    def sample_shape(self):
        """The shape of one sample this module requires, as far as it alone decides: e.g.
        ``(in_features,)`` for Linear, ``(in_channels, None, None)`` for Conv2d (the image size
        is not its to say); None when it takes any shape. Containers ask their first layer that
        has an answer (what a checkpoint's input convention falls back on, nnx.io.inputs)."""
        return None

    def filters(self):
        """Weights worth looking at as images, ``(OC, C, KH, KW)`` (a convolution's), or None."""
        return None

    def onnx(self, writer, x, prefix):
        """Append this module's ONNX nodes to ``writer`` (nnx.onnx's: ``writer.node(op, inputs,
        hint, **attributes)`` returns the output's name, ``writer.init(name, array)`` adds an
        initializer, ``writer.shape(x)`` is a tensor's shape, ``writer.apply(child, x, prefix)``
        runs a child's ``onnx``), applied to the tensor named ``x`` (a list of names for several
        inputs); return the output's name. Default: no ONNX form, a ValueError naming the module."""
        raise ValueError(f"nnx.onnx.export: layer {prefix.rstrip('.') or '(model)'} ({type(self).__name__}) cannot "
                         "be exported: only nnx's built-in layers have an ONNX form")

    # -- randomness ---------------------------------------------------------------------------
    #: Whether this module draws random numbers in its forward (Dropout): ``reseed`` then gives
    #: it a generator through ``set_generator``.
    draws_random = False

    def set_generator(self, rng):
        """Draw from ``rng`` (a ``numpy.random.Generator``) from now on; for ``draws_random``
        modules, which override it."""
        raise NotImplementedError(f"{type(self).__name__} draws no random numbers")

    def get_generator(self):
        """The ``numpy.random.Generator`` a ``draws_random`` module draws from (a resumable
        checkpoint stores its state); for those modules, which override it."""
        raise NotImplementedError(f"{type(self).__name__} draws no random numbers")

    def reseed(self, seed_sequence):
        """Give every module of this one that draws random numbers its own generator: one child
        of ``seed_sequence`` (``numpy.random.SeedSequence.spawn``) each, in ``modules()`` order.
        ``fit(seed=...)`` calls it, so a seed fixes every Dropout mask of a run."""
        drawers = [m for m in self.modules() if m.draws_random]
        for m, child in zip(drawers, seed_sequence.spawn(len(drawers)), strict=True):
            m.set_generator(np.random.default_rng(child))

    # -- state --------------------------------------------------------------------------------
    def state_dict(self):
        """Ordered ``{dotted_name: array}`` of parameters and buffers.

        The arrays are copies (a snapshot): mutating them never changes the module, and training
        on never changes a saved state dict.
        """
        return OrderedDict((k, np.array(v, copy=True)) for k, v in self.state_arrays().items())

    def state_arrays(self):
        """``{dotted_name: the live array}`` of every parameter (its ``.data``) and buffer, in
        ``state_dict`` order: the arrays themselves, not copies (what a broadcast writes into)."""
        targets = OrderedDict()
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                targets[f"{mod_name}.{name}" if mod_name else name] = p.data
            for name, b in mod._buffers.items():
                targets[f"{mod_name}.{name}" if mod_name else name] = b
        return targets

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        ``state_dict`` is a mapping (``state_dict()``, ``nnx.load`` of a state dict) or another
        Module, whose state is copied (``nnx.load`` of a saved model).

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)`` (both empty when ``strict``).

        Raises
        ------
        StateDictError
            (a ValueError and RuntimeError) on a shape or dtype mismatch, naming the key and both
            values; with ``strict=True`` also on missing or unexpected keys. Nothing is copied
            unless everything fits.
        """
        if isinstance(state_dict, Module):  # e.g. the model nnx.load rebuilt from a file
            state_dict = state_dict.state_dict()
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a mapping, got {type(state_dict).__name__}")
        targets = self.state_arrays()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise StateDictError(
                f"load_state_dict({type(self).__name__}): missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for key, dst in targets.items():
            if key not in state_dict:
                continue
            src = np.asarray(state_dict[key])
            if src.shape != dst.shape:
                raise StateDictError(
                    f"load_state_dict: {key}: shape mismatch, the module has {dst.shape}, "
                    f"the state dict has {src.shape}"
                )
            if src.dtype != dst.dtype:
                raise StateDictError(
                    f"load_state_dict: {key}: dtype mismatch, the module has {dst.dtype}, "
                    f"the state dict has {src.dtype}"
                )
        for name, mod in self.named_modules():
            if type(mod)._check_state is not Module._check_state:  # only modules with a rule
                mod._check_state({k[len(name) + 1:] if name else k: np.asarray(v) for k, v in state_dict.items()
                                  if not name or k.startswith(name + ".")})
        for key, dst in targets.items():
            if key in state_dict:
                np.copyto(dst, np.asarray(state_dict[key]))
        return IncompatibleKeys(missing, unexpected)

    def _check_state(self, state):
        """Refuse values this module cannot hold (``state``: its own entries, by local name),
        before ``load_state_dict`` copies anything; raise ``StateDictError``. Default: any."""

    def _cast(self, dtype):
        """Convert parameters, gradients and buffers in place to ``dtype`` (used by gradcheck)."""
        dtype = check_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                p.data = p.data.astype(dtype)
                p.grad = np.zeros_like(p.data)
            for name, b in list(m._buffers.items()):
                if np.issubdtype(b.dtype, np.floating):
                    m.register_buffer(name, b.astype(dtype))
            if "dtype" in m.__dict__:
                object.__setattr__(m, "dtype", dtype)
        return self

    def get_config(self):
        """The constructor's keyword arguments (JSON types) that rebuild this module, or ``None``.

        ``nnx.save`` stores it (see ``architecture``) so ``nnx.load`` can rebuild built-in layers
        and containers with ``from_config``. Layers with hyper-parameters override it; the default
        is ``{}`` when the constructor takes no arguments and ``None`` (not rebuildable) otherwise.
        """
        params = list(inspect.signature(type(self).__init__).parameters)
        return {} if params == ["self"] else None

    @classmethod
    def from_config(cls, config):
        """A new module (fresh parameters) from ``get_config()``'s output."""
        return cls(**config)

    @classmethod
    def config_size(cls, config):
        """How many parameter and buffer elements ``from_config(config)`` would allocate, worked
        out without building it (checkpoints compare it with the arrays a file holds before
        building anything). Layers with parameters override it; the default is 0."""
        return 0

    # -- display ------------------------------------------------------------------------------
    def extra_repr(self):
        """The arguments shown in ``repr(module)`` (torch's convention)."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if not self._modules:
            return lines[0] + ")"
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return "\n".join(lines) + "\n)"


class Elementwise:
    """Mixin of a layer whose output has its input's shape (activations, Dropout, BatchNorm)."""

    def output_shape(self, input_shape):
        return tuple(input_shape)


class Sequential(Module):
    """A chain of modules: ``forward`` runs them in order, ``backward`` in reverse.

    Indexable (an int gives the module, a slice gives a Sequential), ``len`` and iterable.
    """

    def __init__(self, *modules):
        super().__init__()
        for m in modules:
            self.append(m)

    #: Ask every module to ``fuse`` with the next one (the modules, their parameters, caches
    #: and backward passes stay as they are; only the forward runs in fewer passes).
    fusion = True

    def steps(self):
        """The forward plan: ``[(run, modules)]``, one module per step, or two that ``fuse``."""
        mods = list(self._modules.values())
        plan, i = [], 0
        while i < len(mods):
            fused = mods[i].fuse(mods[i + 1]) if self.fusion and i + 1 < len(mods) else None
            n = 1 if fused is None else 2
            plan.append((fused or mods[i].forward, mods[i:i + n]))
            i += n
        return plan

    def forward(self, x):
        for run, _ in self.steps():
            x = run(x)
        return x

    def backward(self, grad_out, *, input_grad=True, after_layer=None):
        """Run every module's backward in reverse order; return the input gradient (``None``
        with ``input_grad=False``, which the first module is passed on).

        ``after_layer(module)``, when given, is called as soon as each module's backward is done,
        its parameters' gradients final (a data-parallel step starts summing them across
        processes there, while the layers below still compute). ``grad_out=None`` runs no
        backward, only the calls (a process with no samples: its gradients stay zero)."""
        mods = list(self._modules.values())
        # module i needs its input gradient when something before it learns (a Normalize or
        # Flatten first does not make the first Linear compute a gradient nobody reads)
        learns = [next(m.parameters(), None) is not None for m in mods]
        for i in range(len(mods) - 1, -1, -1):
            if grad_out is not None:
                grad_out = call_backward(mods[i], grad_out, input_grad or any(learns[:i]))
            if after_layer is not None:
                after_layer(mods[i])
        return grad_out if input_grad else None

    def output_shape(self, input_shape):
        for m in self:
            input_shape = m.output_shape(input_shape)
        return tuple(input_shape)

    def flops(self, input_shape):
        total = 0
        for m in self:
            f = m.flops(input_shape)
            if f is None:
                return None
            total, input_shape = total + f, m.output_shape(input_shape)
        return total

    def sample_shape(self):
        return next((s for s in (m.sample_shape() for m in self) if s is not None), None)

    def filters(self):
        """The first learning layer's (one without parameters, e.g. Normalize, is looked past)."""
        first = next((m for m in self if next(m.parameters(), None) is not None), None)
        return None if first is None else first.filters()

    def onnx(self, writer, x, prefix):
        for name, child in self.named_children():
            x = writer.apply(child, x, f"{prefix}{name}.")
        return x

    def get_config(self):
        parts = [architecture(m) for m in self]
        return None if None in parts else {"modules": parts}

    @classmethod
    def from_config(cls, config):
        return cls(*(from_architecture(a) for a in config["modules"]))

    @classmethod
    def config_size(cls, config):
        return sum(architecture_size(a) for a in config["modules"])

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*mods[idx])
        try:
            return mods[idx]
        except TypeError:
            raise TypeError(f"Sequential indices must be integers or slices, not {type(idx).__name__}") from None
        except IndexError:
            raise IndexError(f"Sequential index {idx} out of range for length {len(mods)}") from None

    def append(self, module):
        """Add ``module`` at the end; return ``self``."""
        i = len(self._modules)
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: module {i}: expected an nnx.Module, got {type(module).__name__}")
        if self._holds(module):
            raise ValueError(f"Sequential: module {i}: this {type(module).__name__} instance is already in the "
                             "Sequential (its forward cache would be overwritten); build a new one")
        setattr(self, str(i), module)
        return self


_TAKES_INPUT_GRAD = {}


def call_backward(module, grad_out, input_grad):
    """``module.backward(grad_out, input_grad=...)``, for containers: a user's module whose
    ``backward(grad_out)`` predates the keyword is called without it (its result then dropped)."""
    cls = type(module)
    takes = _TAKES_INPUT_GRAD.get(cls)
    if takes is None:
        params = inspect.signature(cls.backward).parameters
        takes = _TAKES_INPUT_GRAD[cls] = "input_grad" in params or any(
            p.kind is p.VAR_KEYWORD for p in params.values())
    if takes:
        return module.backward(grad_out, input_grad=input_grad)
    g = module.backward(grad_out)
    return g if input_grad else None


def architecture(module):
    """``{"type": class name, "config": get_config()}`` of a module nnx can rebuild (one of its
    own classes, not a subclass, whose ``get_config`` is not None), else ``None``."""
    cls = type(module)
    config = module.get_config() if _BUILTIN.get(cls.__name__) is cls else None
    return None if config is None else {"type": cls.__name__, "config": config}


def _resolve(arch):
    """``(class, config)`` of an architecture, or ``ValueError``."""
    if not isinstance(arch, dict) or not isinstance(arch.get("type"), str):
        raise ValueError(f"architecture: expected {{'type': ..., 'config': ...}}, got {str(arch)[:80]!r}")
    # files written before containers had get_config keep their fields beside "type"
    cls, config = _BUILTIN.get(arch["type"]), arch.get("config", {k: v for k, v in arch.items() if k != "type"})
    if cls is None:
        raise ValueError(f"architecture: unknown layer type {arch['type']!r}")
    if not isinstance(config, dict):
        raise ValueError(f"architecture: {arch['type']}: config must be an object")
    if cls.from_config.__func__ is Module.from_config.__func__:  # built as cls(**config): known names only
        unknown = sorted(set(config) - set(inspect.signature(cls.__init__).parameters) | {"self"} & set(config))
        if unknown:
            raise ValueError(f"architecture: invalid {arch['type']} description (unknown arguments {unknown})")
    return cls, config


def from_architecture(arch):
    """The module ``architecture`` described (fresh parameters); ``ValueError`` when invalid."""
    cls, config = _resolve(arch)
    try:
        return cls.from_config(config)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"architecture: invalid {arch['type']} description ({exc})") from None


def architecture_size(arch):
    """Parameter and buffer elements the architecture would allocate (``Module.config_size``),
    its integers validated first; ``ValueError`` when invalid."""
    cls, config = _resolve(arch)
    try:
        return cls.config_size(config)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"architecture: invalid {arch['type']} description ({exc})") from None
