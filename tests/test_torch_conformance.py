"""Conformance with PyTorch (test-only peer; skipped when torch is not installed)."""
import numpy as np
import pytest

import nnx

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_kernels_match_torch(tier, rng, dt):
    x = (rng.standard_normal((6, 11)) * 3).astype(dt)
    labels = rng.integers(0, 11, 6)
    tol = dict(rtol=1e-5, atol=1e-6) if dt == np.float32 else dict(rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(tier.softmax(x), torch.softmax(t(x), 1).numpy(), **tol)
    np.testing.assert_allclose(tier.log_softmax(x), torch.log_softmax(t(x), 1).numpy(), **tol)
    xt = t(x).requires_grad_()
    loss = torch.nn.functional.cross_entropy(xt, t(labels))
    loss.backward()
    ours, d = tier.softmax_cross_entropy(x, labels)
    assert ours == pytest.approx(loss.item(), rel=tol["rtol"])
    np.testing.assert_allclose(d, xt.grad.numpy(), **tol)
    xt = t(x).requires_grad_()
    y = torch.relu(xt)
    dy = rng.standard_normal(x.shape).astype(dt)
    y.backward(t(dy))
    yo, mask = tier.relu_forward(x)
    np.testing.assert_array_equal(yo, y.detach().numpy())
    np.testing.assert_array_equal(tier.relu_backward(dy, mask), xt.grad.numpy())


def _pair(rng, dt, backend_seed=0):
    ours = nnx.Sequential(nnx.Linear(7, 16, dtype=dt, rng=backend_seed), nnx.ReLU(),
                          nnx.Linear(16, 5, dtype=dt, rng=backend_seed + 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    theirs = theirs.to(torch.float64 if dt == np.float64 else torch.float32)
    with torch.no_grad():
        for (name, p) in theirs.named_parameters():
            p.copy_(t(ours.state_dict()[name]))
    return ours, theirs


def test_mlp_forward_backward_matches_torch(backend, rng):
    dt = np.float64
    ours, theirs = _pair(rng, dt)
    x = rng.standard_normal((9, 7))
    labels = rng.integers(0, 5, 9)
    crit = nnx.SoftmaxCrossEntropy()
    loss = crit(ours(x), labels)
    dx = ours.backward(crit.backward())
    xt = t(x).requires_grad_()
    lt = torch.nn.functional.cross_entropy(theirs(xt), t(labels))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, p.grad.numpy(),
                                   rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_ten_sgd_steps_match_torch(rng, dt, nesterov):
    ours, theirs = _pair(rng, dt)
    kw = dict(lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-3)
    opt = nnx.optim.SGD(ours.parameters(), **kw)
    topt = torch.optim.SGD(theirs.parameters(), **kw)
    crit = nnx.SoftmaxCrossEntropy()
    for _ in range(10):
        x = rng.standard_normal((8, 7)).astype(dt)
        labels = rng.integers(0, 5, 8)
        opt.zero_grad()
        crit(ours(x), labels)
        ours.backward(crit.backward(), input_grad=False)
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(t(x)), t(labels)).backward()
        topt.step()
    # float32: ten steps of rounding differences (FMA vs separate multiply-add, summation order
    # in the GEMMs) compound to ~1e-6 relative; float64 stays at the 1e-12 level.
    tol = dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.state_dict()[name], p.detach().numpy(), **tol)


def test_linear_init_distribution_matches_torch():
    torch.manual_seed(0)
    tw = torch.nn.Linear(300, 200).weight.detach().numpy()
    ow = nnx.Linear(300, 200, rng=0).weight.data
    assert abs(np.abs(tw).max() - np.abs(ow).max()) < 1e-3
    assert ow.std() == pytest.approx(tw.std(), rel=0.02)


# ---- convolution and pooling ---------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

F = torch.nn.functional


def _conv_case(tier, rng, n, c, oc, h, w, kh, kw, stride, pad, dt=np.float64):
    x = rng.standard_normal((n, c, h, w)).astype(dt)
    wt = rng.standard_normal((oc, c, kh, kw)).astype(dt)
    b = rng.standard_normal(oc).astype(dt)
    y, cache = tier.conv2d_forward(x, wt, b, stride, pad)
    xt, wtt, bt = (t(a).requires_grad_() for a in (x, wt, b))
    yt = F.conv2d(xt, wtt, bt, stride=stride, padding=pad)
    dy = rng.standard_normal(y.shape).astype(dt)
    yt.backward(t(dy))
    dx, dw, db = tier.conv2d_backward(dy, cache)
    tol = dict(rtol=1e-10, atol=1e-10) if dt == np.float64 else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(dw, wtt.grad.numpy(), **tol)
    np.testing.assert_allclose(db, bt.grad.numpy(), **tol)


# (n, c, oc, h, w, kh, kw, stride, pad)
@pytest.mark.parametrize("geo", [(2, 3, 4, 8, 7, 3, 2, (1, 1), (0, 0)), (1, 2, 5, 9, 9, 5, 5, (2, 2), (2, 2)),
                                 (3, 1, 2, 6, 10, 2, 3, (1, 3), (1, 0)), (1, 1, 6, 28, 28, 5, 5, (1, 1), (2, 2))])
def test_conv2d_matches_torch(tier, rng, geo):
    if tier.__name__.endswith("loops") and geo[3] * geo[4] > 100:
        pytest.skip("loops tier: small inputs only")
    _conv_case(tier, rng, *geo)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 3), oc=st.integers(1, 18), h=st.integers(2, 11),
       w=st.integers(2, 11), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 1000))
def test_conv2d_matches_torch_on_generated_shapes(n, c, oc, h, w, kh, kw, sh, sw, ph, pw, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        return
    from nnx.kernels import compiled_available, get_backend
    tier = get_backend("cython" if compiled_available() else "vectorized")
    _conv_case(tier, np.random.default_rng(seed), n, c, oc, h, w, kh, kw, (sh, sw), (ph, pw))


@pytest.mark.parametrize("k,s", [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pooling_matches_torch(tier, rng, k, s, dt):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dt)
    xt = t(x).requires_grad_()
    yt, idx = F.max_pool2d(xt, k, s, return_indices=True)
    y, arg = tier.maxpool2d_forward(x, k, s)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(arg, idx.numpy())
    dy = rng.standard_normal(y.shape).astype(dt)
    yt.backward(t(dy))
    tol = dict(rtol=1e-5, atol=1e-6) if dt == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tier.maxpool2d_backward(dy, arg, x.shape), xt.grad.numpy(), **tol)
    xt = t(x).requires_grad_()
    at = F.avg_pool2d(xt, k, s)
    np.testing.assert_allclose(tier.avgpool2d_forward(x, k, s), at.detach().numpy(), **tol)
    at.backward(t(dy))
    np.testing.assert_allclose(tier.avgpool2d_backward(dy, x.shape, k, s), xt.grad.numpy(), **tol)


def test_lenet_layers_match_torch_float32(rng):
    """The whole LeNet-5 forward/backward in float32 against torch with the same weights."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    try:
        import mnist_lenet5
    finally:
        sys.path.pop(0)
    ours = mnist_lenet5.lenet5(np.random.default_rng(0), normalize=False)  # the layers torch has
    nn = torch.nn
    theirs = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                           nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                           nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(t(ours.state_dict()[name]))
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 8)
    crit = nnx.SoftmaxCrossEntropy()
    loss = crit(ours(x), labels)
    ours.backward(crit.backward())
    lt = F.cross_entropy(theirs(t(x)), t(labels))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-5)
    grads = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        # float32 with sums over up to 6272 terms: 1e-4 relative / 1e-5 absolute
        np.testing.assert_allclose(grads[name].grad, p.grad.numpy(), rtol=1e-4, atol=1e-5)
