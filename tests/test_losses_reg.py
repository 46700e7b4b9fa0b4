"""MSELoss, BCEWithLogitsLoss, HingeLoss and the weight penalties."""
import numpy as np
import pytest

import nnx
from nnx.gradcheck import numerical_gradient


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradcheck_losses(rng, reduction):
    x, t = rng.standard_normal((4, 3)), rng.random((4, 3))
    assert nnx.gradcheck(nnx.MSELoss(reduction), x, target=t)
    assert nnx.gradcheck(nnx.BCEWithLogitsLoss(reduction), x, target=t)
    s = rng.standard_normal((5, 4))
    assert nnx.gradcheck(nnx.HingeLoss(margin=0.5, reduction=reduction), s, target=np.array([0, 1, 2, 3, 1]))


def test_losses_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, t = rng.standard_normal((6, 4)), rng.random((6, 4))
    for ours, theirs in ((nnx.MSELoss(), F.mse_loss), (nnx.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits)):
        xt = torch.from_numpy(x).requires_grad_()
        lt = theirs(xt, torch.from_numpy(t))
        lt.backward()
        assert ours(x, t) == pytest.approx(lt.item(), rel=1e-12)
        np.testing.assert_allclose(ours.backward(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    y = rng.integers(0, 4, 6)
    xt = torch.from_numpy(x).requires_grad_()
    lt = F.multi_margin_loss(xt, torch.from_numpy(y), margin=1.0) * 4  # torch divides by C
    lt.backward()
    hinge = nnx.HingeLoss()
    assert hinge(x, y) == pytest.approx(lt.item(), rel=1e-12)
    np.testing.assert_allclose(hinge.backward(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_bce_is_stable_for_huge_logits():
    crit = nnx.BCEWithLogitsLoss()
    loss = crit(np.array([[1000.0, -1000.0]]), np.array([[0.0, 1.0]]))
    assert loss == pytest.approx(1000.0)
    assert np.isfinite(crit.backward()).all()


def test_hinge_formula():
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0]])
    loss = nnx.HingeLoss()(s, np.array([0, 1]))
    assert loss == pytest.approx((2.9 + 0) / 2 + (0 + 0) / 2)  # cs231n's classic numbers, first two rows


def test_loss_bad_input():
    with pytest.raises(ValueError, match=r"targets: expected shape \(2, 3\)"):
        nnx.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="dtype mismatch"):
        nnx.MSELoss()(np.zeros((2, 3), np.float32), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nnx.BCEWithLogitsLoss()(np.zeros((1, 2)), np.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match="out of range"):
        nnx.HingeLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="margin"):
        nnx.HingeLoss(margin=-1)
    with pytest.raises(ValueError, match="empty"):
        nnx.MSELoss()(np.zeros((0, 3)), np.zeros((0, 3)))


@pytest.mark.parametrize("name,args", [("l1", (0.3,)), ("l2", (0.3,)), ("elastic_net", (0.3, 0.25))])
def test_penalties_value_and_gradient(rng, name, args):
    params = [nnx.Parameter(rng.standard_normal((3, 2))), nnx.Parameter(rng.standard_normal(4))]
    f = getattr(nnx.regularization, name)
    value = f(params, *args)
    for p in params:
        analytic = p.grad.copy()
        p.grad[...] = 0

        def penalty(p=p):
            q = nnx.Parameter(p.data.copy())
            return f([q], *args)
        numeric = numerical_gradient(penalty, p.data)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    lam = args[0]
    l1 = sum(np.abs(p.data).sum() for p in params)
    l2 = sum((p.data ** 2).sum() for p in params)
    expected = {"l1": lam * l1, "l2": lam / 2 * l2,
                "elastic_net": lam * (args[-1] * l1 + (1 - args[-1]) / 2 * l2)}[name]
    assert value == pytest.approx(expected, rel=1e-12)


def test_l2_equals_sgd_weight_decay(rng):
    w0, g = rng.standard_normal(5), rng.standard_normal(5)
    a, b = nnx.Parameter(w0.copy()), nnx.Parameter(w0.copy())
    a.grad[...] = g
    nnx.regularization.l2([a], 0.1)
    nnx.optim.SGD([a], lr=0.5).step()
    b.grad[...] = g
    nnx.optim.SGD([b], lr=0.5, weight_decay=0.1).step()
    np.testing.assert_allclose(a.data, b.data, rtol=1e-15)


def test_penalty_validation():
    p = [nnx.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="lam"):
        nnx.regularization.l1(p, -1)
    with pytest.raises(ValueError, match="beta"):
        nnx.regularization.elastic_net(p, 0.1, 1.5)
    with pytest.raises(TypeError, match="Parameter"):
        nnx.regularization.l2([np.ones(2)], 0.1)
