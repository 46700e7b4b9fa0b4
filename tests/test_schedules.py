"""Learning-rate schedules: torch's sequences, the formulas of API.md, composition, validation."""
import math

import numpy as np
import pytest

import nnx
from nnx.optim import CosineAnnealingLR, InverseSqrtLR, LinearLR, LinearWarmup, StepLR


def _opt(lr=0.1, groups=1):
    ps = [nnx.Parameter(np.zeros(2)) for _ in range(groups)]
    return nnx.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)], lr=lr)


def _lrs(schedule, steps):
    out = [schedule.get_last_lr()]
    for _ in range(steps):
        schedule.optimizer.step()
        schedule.step()
        out.append(schedule.get_last_lr())
    return np.array(out)


TORCH_CASES = [(StepLR, "StepLR", dict(step_size=7, gamma=0.5)),
               (CosineAnnealingLR, "CosineAnnealingLR", dict(T_max=12, eta_min=0.001)),
               (LinearLR, "LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=9))]


@pytest.mark.parametrize("cls,tname,kw", TORCH_CASES, ids=[c[1] for c in TORCH_CASES])
def test_fifty_steps_equal_torch(cls, tname, kw):
    torch = pytest.importorskip("torch")
    ours = _lrs(cls(_opt(groups=2), **kw), 50)
    tps = [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(tps)], lr=0.1)
    ts = getattr(torch.optim.lr_scheduler, tname)(topt, **kw)
    theirs = [ts.get_last_lr()]
    for _ in range(50):
        topt.step()
        ts.step()
        theirs.append(ts.get_last_lr())
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-15, atol=0)


def test_inverse_sqrt_formula():
    lrs = _lrs(InverseSqrtLR(_opt(lr=1.0), warmup_steps=4), 12)[:, 0]
    expected = [min(1, (n + 1) / 4) if n < 4 else math.sqrt(4 / n) for n in range(13)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15)


def test_linear_warmup_alone_and_handing_over_to_cosine():
    np.testing.assert_allclose(_lrs(LinearWarmup(_opt(lr=1.0), warmup_steps=4), 6)[:, 0],
                               [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0])
    opt = _opt(lr=1.0)
    cosine = CosineAnnealingLR(opt, T_max=5)
    warm = LinearWarmup(opt, warmup_steps=3, after=cosine)
    lrs = _lrs(warm, 8)[:, 0]
    cos = [(1 + math.cos(math.pi * k / 5)) / 2 for k in range(6)]
    np.testing.assert_allclose(lrs, [1 / 3, 2 / 3, 1.0] + cos, rtol=1e-12)


def test_schedule_really_drives_the_optimizer():
    opt = _opt(lr=1.0)
    s = StepLR(opt, step_size=1, gamma=0.5)
    p = opt.param_groups[0]["params"][0]
    for expected_lr in (1.0, 0.5, 0.25):
        p.grad[...] = 1.0
        before = p.data.copy()
        opt.step()
        np.testing.assert_allclose(before - p.data, expected_lr)
        s.step()


def test_schedule_validation():
    opt = _opt()
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(opt, T_max=-1)
    with pytest.raises(ValueError, match="start_factor"):
        LinearLR(opt, start_factor=0.0)
    with pytest.raises(TypeError, match="warmup_steps"):
        InverseSqrtLR(opt, warmup_steps=2.5)
    with pytest.raises(TypeError, match="optimizer"):
        StepLR("sgd", step_size=2)
    with pytest.raises(ValueError, match="same optimizer"):
        LinearWarmup(opt, 3, after=StepLR(_opt(), step_size=2))
