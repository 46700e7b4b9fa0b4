"""Sigmoid, Tanh, LeakyReLU, ELU: tiers agree (loops is the reference), gradcheck, torch,
edge values, thread-count invariance, bad input."""
import numpy as np
import pytest
from helpers import TIERS, assert_allclose

import nnx
from nnx.kernels import get_backend

LOOPS = get_backend("loops")
ACTS = {  # name: (forward args, backward builder)
    "sigmoid": ((), lambda k, dy, x, y: k.sigmoid_backward(dy, y)),
    "tanh": ((), lambda k, dy, x, y: k.tanh_backward(dy, y)),
    "elu": ((0.7,), lambda k, dy, x, y: k.elu_backward(dy, x, y, 0.7)),
    "leaky_relu": ((0.05,), lambda k, dy, x, y: k.leaky_relu_backward(dy, x, 0.05)),
}


@pytest.mark.parametrize("name", list(ACTS))
def test_tiers_match_loops(tier, dtype, rng, name):
    args, bwd = ACTS[name]
    x = (rng.standard_normal((3, 4, 5)) * 3).astype(dtype)
    x[0, 0, :3] = [0.0, 1e-6, -1e-6]
    y = getattr(tier, f"{name}_forward")(x, *args)
    y_ref = getattr(LOOPS, f"{name}_forward")(x, *args)
    assert y.dtype == dtype and y.shape == x.shape
    assert_allclose(y, y_ref, dtype, atol=1e-7 if dtype == np.float32 else 1e-15)
    dy = rng.standard_normal(x.shape).astype(dtype)
    # Both backward kernels get the same saved y: tanh's 1 - y^2 amplifies a 1-ulp difference
    # between two tanh implementations to a large relative error where y is close to 1.
    assert_allclose(bwd(tier, dy, x, y_ref), bwd(LOOPS, dy, x, y_ref), dtype,
                    atol=1e-7 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("layer", [nnx.Sigmoid(), nnx.Tanh(), nnx.LeakyReLU(0.2), nnx.ELU(1.3)],
                         ids=["Sigmoid", "Tanh", "LeakyReLU", "ELU"])
def test_gradcheck_activation_layers(backend, rng, layer):
    x = rng.standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink of LeakyReLU/ELU
    assert nnx.gradcheck(layer, x)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_activations_match_torch(tier, rng, dt):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = (rng.standard_normal((4, 7)) * 4).astype(dt)
    dy = rng.standard_normal(x.shape).astype(dt)
    tol = dict(rtol=2e-6, atol=1e-7) if dt == np.float32 else dict(rtol=1e-13, atol=1e-15)
    layers = [(nnx.Sigmoid(), torch.sigmoid), (nnx.Tanh(), torch.tanh),
              (nnx.LeakyReLU(0.1), lambda t: F.leaky_relu(t, 0.1)), (nnx.ELU(0.8), lambda t: F.elu(t, 0.8))]
    with nnx.use_backend(tier.__name__.rsplit(".", 1)[-1].replace("compiled", "cython")):
        for ours, theirs in layers:
            xt = torch.from_numpy(x).requires_grad_()
            yt = theirs(xt)
            yt.backward(torch.from_numpy(dy))
            np.testing.assert_allclose(ours(x), yt.detach().numpy(), **tol)
            # float32: the derivatives 1 - y^2 and y(1 - y) cancel near saturation, so a 1-ulp
            # difference in y between libraries shows as ~2 ulp(1) * |dy| absolute.
            btol = dict(rtol=2e-6, atol=6e-7) if dt == np.float32 else tol
            np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), **btol)


def test_sigmoid_and_tanh_saturate_cleanly(tier):
    x = np.array([-np.inf, -1000.0, -50.0, 0.0, 50.0, 1000.0, np.inf, np.nan], np.float32)
    s = tier.sigmoid_forward(x)
    np.testing.assert_allclose(s[:7], [0, 0, 0, 0.5, 1, 1, 1], atol=1e-20)
    assert np.isnan(s[7])
    t = tier.tanh_forward(x)
    np.testing.assert_allclose(t[:7], [-1, -1, -1, 0, 1, 1, 1])
    assert np.isnan(t[7])
    e = tier.elu_forward(np.array([-np.inf, -1e-8, 0.0], np.float64))
    np.testing.assert_allclose(e, [-1.0, np.expm1(-1e-8), 0.0], rtol=1e-12)  # exp(x)-1 would be off by 5e-9


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_float32_sigmoid_tanh_elu_within_3_ulp():
    """The compiled tier's own float32 sigmoid, tanh (polynomial near 0, exp above 0.625) and
    ELU (Taylor series near 0, exp below -ln2/2) against float64, over a dense sweep and tiny
    magnitudes where an exp-based form would lose all relative accuracy (measured: 2.3, 1.3, 2.4
    ulp; torch's 2.5, 0.5, 1.7)."""
    C = get_backend("cython")
    x = np.concatenate([np.linspace(-30, 30, 600_001), np.geomspace(1e-30, 30, 60_000),
                        -np.geomspace(1e-30, 30, 60_000)]).astype(np.float32)
    x64 = x.astype(np.float64)
    refs = {"sigmoid": 1 / (1 + np.exp(-x64)), "tanh": np.tanh(x64),
            "elu": np.where(x64 > 0, x64, 0.7 * np.expm1(x64))}
    for name, ref in refs.items():
        got = C.elu_forward(x, 0.7) if name == "elu" else getattr(C, f"{name}_forward")(x)
        ulp = np.abs(got - ref) / np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
        assert ulp[ref != 0].max() <= 3, (name, ulp.max())
    edge = np.array([-0.0, -np.inf, np.inf, np.nan, 1e-30, -1e-30], np.float32)
    t, e = C.tanh_forward(edge), C.elu_forward(edge, 0.7)
    assert np.signbit(t[0]) and np.signbit(e[0]) and t[0] == 0 and e[0] == 0  # -0 stays -0
    assert list(t[1:3]) == [-1, 1] and e[1] == np.float32(-0.7) and e[2] == np.inf
    assert np.isnan(t[3]) and np.isnan(e[3]) and np.isnan(C.sigmoid_forward(edge)[3])
    assert t[4] == edge[4] and e[5] == np.float32(0.7) * edge[5]  # expm1(x) = x for tiny x


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_large_inputs_do_not_depend_on_thread_count(rng):
    C = get_backend("cython")
    x = rng.standard_normal(700_000).astype(np.float32)
    for f in (C.sigmoid_forward, C.tanh_forward, lambda v, **k: C.elu_forward(v, 1.0, **k)):
        np.testing.assert_array_equal(f(x, n_threads=1), f(x, n_threads=2))


def test_activation_bad_input(tier):
    with pytest.raises(TypeError, match="float32 or float64"):
        tier.sigmoid_forward(np.arange(3))
    with pytest.raises(ValueError, match="y: expected shape"):
        tier.tanh_backward(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="dtype mismatch"):
        tier.leaky_relu_backward(np.ones(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="negative_slope"):
        nnx.LeakyReLU("0.1")
    with pytest.raises(ValueError, match="alpha"):
        nnx.ELU(float("nan"))
    with pytest.raises(RuntimeError, match="Sigmoid.backward"):
        nnx.Sigmoid().backward(np.ones(2))
