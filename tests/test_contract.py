"""The kernel contract (nnx/kernels/contract.py): every tier has every kernel, with its signature,
and refuses the same bad argument with the same error before computing anything."""
import inspect

import numpy as np
import pytest
from helpers import TIERS

from nnx.kernels import KERNELS, get_backend
from nnx.kernels.contract import KERNELS as DECLARED


def test_kernels_reexports_the_contract():
    assert KERNELS is DECLARED and len(KERNELS) >= 28


@pytest.mark.parametrize("name", TIERS)
def test_tier_provides_every_kernel_with_the_declared_signature(name):
    tier = get_backend(name)
    assert sorted(tier.__all__) == sorted(KERNELS), f"{name}: __all__ differs from the contract"
    missing = [k for k in KERNELS if not callable(getattr(tier, k, None))]
    assert not missing, f"tier {name!r} lacks {missing}"
    for kernel, (params, _) in KERNELS.items():
        got = str(inspect.signature(getattr(tier, kernel)))
        assert got == f"({params})", f"{name}.{kernel}{got} differs from the contract ({params})"


def _calls(rng):
    x4 = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    p = np.zeros(4)
    return [
        (TypeError, "relu: expected a bool", lambda k: k.conv2d_forward(x4, w, None, 1, 0, relu="yes")),
        (TypeError, "relu: expected a bool", lambda k: k.gemm(np.ones((2, 2)), np.ones((2, 2)), relu=1)),
        (ValueError, "alpha: expected a finite number", lambda k: k.elu_forward(x4, float("nan"))),
        (ValueError, "negative_slope: expected a finite",
         lambda k: k.leaky_relu_backward(x4, x4, float("inf"))),
        (ValueError, "lr: expected", lambda k: k.sgd_update(p, p, None, -1.0)),
        (ValueError, "state_sum: required", lambda k: k.adagrad_update(p, p, None, 0.1, 1e-10, 0.0)),
        (ValueError, "momentum_buffer: required",
         lambda k: k.rmsprop_update(p, p, p.copy(), None, None, 0.1, 0.99, 1e-8, 0.0, 0.9)),
        (ValueError, "alpha: expected", lambda k: k.rmsprop_update(p, p, p.copy(), None, None, 0.1, 2.0,
                                                                   1e-8, 0.0, 0.0)),
        (ValueError, "beta1: expected", lambda k: k.adam_update(p, p, p.copy(), p.copy(), 0.1, 1.0, 0.9,
                                                               1e-8, 0.0, 1)),
    ]


@pytest.mark.parametrize("case", range(9))
def test_every_tier_refuses_the_same_bad_argument_the_same_way(case, rng):
    errors = set()
    for name in TIERS:
        exc, match, call = _calls(np.random.default_rng(0))[case]
        with pytest.raises(exc, match=match) as info:
            call(get_backend(name))
        errors.add(str(info.value))
    assert len(errors) == 1, errors


def test_activation_kinds_are_one_enum_shared_with_cython():
    if "cython" not in TIERS:
        pytest.skip("compiled tier not built")
    from nnx.kernels.compiled import _activations
    assert [k.name for k in _activations.Unary] == ["SIGMOID", "TANH", "ELU", "LEAKY_RELU"]
