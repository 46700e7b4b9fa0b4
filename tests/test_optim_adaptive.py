"""Adagrad, RMSprop, Adam, AdamW: torch's trajectories, known properties, validation, resume."""
import numpy as np
import pytest

import nnx

CASES = {
    "Adagrad": [dict(lr=0.1), dict(lr=0.05, eps=1e-6, lr_decay=0.01, weight_decay=0.01,
                                   initial_accumulator_value=0.1)],
    "RMSprop": [dict(lr=0.01), dict(lr=0.01, alpha=0.9, momentum=0.8),
                dict(lr=0.005, centered=True, weight_decay=0.01, momentum=0.5)],
    "Adam": [dict(lr=0.01), dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)],
    "AdamW": [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, betas=(0.85, 0.995))],
}
PARAMS = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


def _model(dtype=np.float64):
    return nnx.Sequential(nnx.Linear(5, 8, dtype=dtype, rng=0), nnx.ReLU(), nnx.Linear(8, 3, dtype=dtype, rng=1))


def _run(opt_cls, kw, steps, rng, model=None, opt=None):
    model = model or _model()
    opt = opt or opt_cls(model.parameters(), **kw)
    crit = nnx.SoftmaxCrossEntropy()
    for _ in range(steps):
        x = rng.standard_normal((6, 5))
        y = rng.integers(0, 3, 6)
        opt.zero_grad()
        crit(model(x), y)
        model.backward(crit.backward(), input_grad=False)
        opt.step()
    return model, opt


@pytest.mark.parametrize("name,i", PARAMS)
def test_fifty_steps_match_torch(name, i):
    torch = pytest.importorskip("torch")
    kw = CASES[name][i]
    model, _ = _run(getattr(nnx.optim, name), kw, 50, np.random.default_rng(7))
    ref = _model()
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for n, p in tm.named_parameters():
            p.copy_(torch.from_numpy(ref.state_dict()[n]))
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    rng = np.random.default_rng(7)
    for _ in range(50):
        x = torch.from_numpy(rng.standard_normal((6, 5)))
        y = torch.from_numpy(rng.integers(0, 3, 6))
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(x), y).backward()
        topt.step()
    for n, p in tm.named_parameters():
        np.testing.assert_allclose(model.state_dict()[n], p.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_each_weight_by_about_lr():
    p = nnx.Parameter(np.array([1.0, -2.0, 3.0]))
    p.grad[...] = [0.5, -100.0, 1e-3]
    nnx.optim.Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 2.9], rtol=1e-6)


def test_adamw_decays_weights_without_gradient():
    p = nnx.Parameter(np.array([2.0]))
    opt = nnx.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.step()  # zero gradient: only the decoupled decay acts
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.1 * 0.5)])


@pytest.mark.parametrize("name,i", PARAMS)
def test_state_dict_resumes_bit_for_bit(name, i):
    cls, kw = getattr(nnx.optim, name), CASES[name][i]
    full, _ = _run(cls, kw, 8, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    half, opt = _run(cls, kw, 4, rng)
    saved_model, saved_opt = half.state_dict(), opt.state_dict()
    resumed = _model()
    resumed.load_state_dict(saved_model)
    opt2 = cls(resumed.parameters(), **kw)
    opt2.load_state_dict(saved_opt)
    _run(cls, kw, 4, rng, resumed, opt2)
    for n, v in full.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[n], v)


@pytest.mark.parametrize("name,i", PARAMS)
def test_state_is_made_on_the_first_step_with_torchs_keys(name, i):
    """Each parameter's state appears at its first step (an empty entry, as a hand-made state
    dict may hold, is filled too), with torch's keys, step 1, and buffers of its shape."""
    cls, kw = getattr(nnx.optim, name), CASES[name][i]
    model = _model()
    opt = cls(model.parameters(), **kw)
    first = next(iter(model.parameters()))
    opt.state[id(first)] = {}
    _run(cls, kw, 1, np.random.default_rng(0), model, opt)
    expect = {"Adagrad": {"sum"}, "RMSprop": {"square_avg"}, "Adam": {"exp_avg", "exp_avg_sq"},
              "AdamW": {"exp_avg", "exp_avg_sq"}}[name]
    expect |= {"momentum_buffer"} if kw.get("momentum", 0) > 0 else set()
    expect |= {"grad_avg"} if kw.get("centered") else set()
    for p in model.parameters():
        state = opt.state[id(p)]
        assert set(state) == {"step"} | expect and state["step"] == 1
        assert all(state[k].shape == p.shape for k in expect)


def test_validation_names_the_argument():
    p = [nnx.Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="lr"):
        nnx.optim.Adam(p, lr=-1)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        nnx.optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        nnx.optim.AdamW(p, betas=(0.9,))
    with pytest.raises(ValueError, match="eps"):
        nnx.optim.Adagrad(p, eps=-1)
    with pytest.raises(ValueError, match="alpha"):
        nnx.optim.RMSprop(p, alpha=1.5)
    with pytest.raises(ValueError, match="momentum"):
        nnx.optim.RMSprop(p, momentum=-0.1)


def test_float32_parameters_stay_float32():
    p = nnx.Parameter(np.ones(4, np.float32))
    p.grad[...] = 0.3
    for cls in (nnx.optim.Adam, nnx.optim.AdamW, nnx.optim.Adagrad, nnx.optim.RMSprop):
        cls([p]).step()
        assert p.data.dtype == np.float32


@pytest.mark.parametrize("decoupled,wd", [(False, 0.0), (False, 0.05), (True, 0.1)])
def test_adam_update_kernel_tiers_agree(rng, decoupled, wd):
    from helpers import TIERS

    from nnx.kernels import get_backend
    out = {}
    for name in TIERS:
        k = get_backend(name)
        p = np.linspace(-1, 1, 35).reshape(5, 7)
        m, v = np.zeros_like(p), np.zeros_like(p)
        for step in range(1, 4):
            g = np.cos(p * step)
            k.adam_update(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, wd, step, decoupled)
        out[name] = p
    for name in TIERS:
        np.testing.assert_allclose(out[name], out["loops"], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="step"):
        get_backend("vectorized").adam_update(p, p, m, v, 0.01, 0.9, 0.999, 1e-8, 0.0, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,kw", [
    ("adagrad", dict(wd=0.0)), ("adagrad", dict(wd=0.05)),
    ("rmsprop", dict(wd=0.0, mu=0.0, centered=False)), ("rmsprop", dict(wd=0.01, mu=0.0, centered=True)),
    ("rmsprop", dict(wd=0.0, mu=0.8, centered=False)), ("rmsprop", dict(wd=0.02, mu=0.5, centered=True)),
])
def test_adagrad_rmsprop_kernel_tiers_agree(kind, kw, dtype):
    # Sizes above the compiled tier's 16384-element block, so several prange blocks run.
    from helpers import TIERS

    from nnx.kernels import get_backend
    out = {}
    for name in TIERS:
        k = get_backend(name)
        p = np.linspace(-1, 1, 7 if name == "loops" else 40007).astype(dtype)
        p[:7] = np.linspace(-1, 1, 7)
        s, m, b = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
        for step in range(1, 4):
            g = np.cos(p * step).astype(dtype)
            if kind == "adagrad":
                k.adagrad_update(p, g, s, 0.1 / step, 1e-10, kw["wd"])
            else:
                k.rmsprop_update(p, g, s, m if kw["centered"] else None, b if kw["mu"] else None,
                                 0.01, 0.9, 1e-8, kw["wd"], kw["mu"])
        out[name] = (p, s, m, b)
    ref = {name: tuple(a[:7] for a in arrays) for name, arrays in out.items()}
    # The same statements in the same order, to a few ulps of the largest term (|p| <= 1; the
    # momentum buffer |b| ~ 2): on an FMA CPU the compiled tier's clone contracts p - lr * b into
    # one FMA (one rounding fewer), and later steps carry that difference (seen: 1.3e-15 at a p
    # near zero in float64).
    tol = dict(rtol=1e-13, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for name in TIERS:
        for got, want in zip(ref[name], ref["loops"], strict=True):
            np.testing.assert_allclose(got, want, **tol)
    if "cython" in out:
        for got, want in zip(out["cython"], out["vectorized"], strict=True):
            np.testing.assert_allclose(got, want, **tol)
