"""Weight initialisation, following torch.nn.init with an explicit ``numpy.random.Generator``."""
import contextlib
import contextvars
import math

import numpy as np

_SKIP = contextvars.ContextVar("nnx_skip_init", default=False)


@contextlib.contextmanager
def skipped():
    """Inside this block layers start with zero weights and draw no random numbers: a model about
    to receive a checkpoint's arrays needs no initialisation (``nnx.load`` builds in one)."""
    token = _SKIP.set(True)
    try:
        yield
    finally:
        _SKIP.reset(token)


def fan_in_and_out(shape):
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)`` as torch computes them."""
    if len(shape) < 2:
        raise ValueError(f"fan_in_and_out: expected a weight with at least 2 dims, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform(rng, shape, bound, dtype):
    """Samples from U(-bound, bound) drawn in float64 then cast, as a C-contiguous array (zeros
    inside ``skipped()``)."""
    if _SKIP.get():
        return np.zeros(shape, dtype)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


_SQRT5 = math.sqrt(5)


def kaiming_uniform(rng, shape, dtype, a=_SQRT5):
    """torch.nn.init.kaiming_uniform_(w, a) with leaky_relu gain, fan_in mode.

    With torch's default ``a = sqrt(5)`` (what nn.Linear and nn.Conv2d use) the bound is
    ``1 / sqrt(fan_in)``.
    """
    fan_in, _ = fan_in_and_out(shape)
    gain = math.sqrt(2.0 / (1 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in else 0.0
    return uniform(rng, shape, bound, dtype)


def bias_uniform(rng, fan_in, n, dtype):
    """torch's default bias initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(rng, (n,), bound, dtype)


__all__ = ["bias_uniform", "fan_in_and_out", "kaiming_uniform", "skipped", "uniform"]
