"""SGD: torch's update rule, validation, param groups, state dict."""
import numpy as np
import pytest

import nnx


def manual_sgd(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
    """torch.optim.SGD's documented algorithm, in float64."""
    p = p.astype(np.float64).copy()
    buf = None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.8, weight_decay=0.01), dict(momentum=0.5, dampening=0.2)])
def test_sgd_follows_torch_rule(backend, rng, kw):
    p = nnx.Parameter(rng.standard_normal((3, 4)))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    expected = manual_sgd(p.data, grads, 0.1, **kw)
    opt = nnx.optim.SGD([p], lr=0.1, **kw)
    for g in grads:
        opt.zero_grad()
        p.grad[...] = g
        opt.step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


def test_sgd_validation():
    p = [nnx.Parameter(np.zeros(2))]
    with pytest.raises(ValueError, match="lr: expected a value >= 0, got -0.1"):
        nnx.optim.SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        nnx.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        nnx.optim.SGD(p, lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        nnx.optim.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        nnx.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        nnx.optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="single Parameter"):
        nnx.optim.SGD(p[0], lr=0.1)


def test_param_groups_with_their_own_lr():
    a, b = nnx.Parameter(np.ones(2)), nnx.Parameter(np.ones(2))
    opt = nnx.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    for p in (a, b):
        p.grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)
    with pytest.raises(ValueError, match="more than one group"):
        nnx.optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_optimizer_state_dict_resumes_bit_for_bit(rng):
    def run(steps, opt, p, grads):
        for g in grads[:steps]:
            opt.zero_grad()
            p.grad[...] = g
            opt.step()

    grads = [rng.standard_normal(5) for _ in range(6)]
    p1 = nnx.Parameter(np.ones(5))
    o1 = nnx.optim.SGD([p1], lr=0.1, momentum=0.9, nesterov=True)
    run(6, o1, p1, grads)

    p2 = nnx.Parameter(np.ones(5))
    o2 = nnx.optim.SGD([p2], lr=0.1, momentum=0.9, nesterov=True)
    run(3, o2, p2, grads)
    saved_p, saved_o = p2.data.copy(), o2.state_dict()
    p3 = nnx.Parameter(saved_p)
    o3 = nnx.optim.SGD([p3], lr=0.5, momentum=0.9, nesterov=True)
    o3.load_state_dict(saved_o)
    assert o3.param_groups[0]["lr"] == 0.1
    run(3, o3, p3, grads[3:])
    np.testing.assert_array_equal(p3.data, p1.data)


def test_zero_grad_through_optimizer():
    p = nnx.Parameter(np.ones(3))
    p.grad[...] = 5
    nnx.optim.SGD([p], lr=0.1).zero_grad()
    np.testing.assert_array_equal(p.grad, 0)
