"""Parameter, Module and Sequential: registration, names, modes, state dicts, grads."""
import numpy as np
import pytest

import nnx


def mlp(dtype=np.float32, seed=0):
    return nnx.Sequential(nnx.Linear(4, 8, dtype=dtype, rng=seed), nnx.ReLU(),
                          nnx.Linear(8, 3, dtype=dtype, rng=seed + 1))


def test_named_parameters_are_dotted_like_torch():
    names = [n for n, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert mlp().num_parameters() == 4 * 8 + 8 + 8 * 3 + 3


def test_parameters_is_a_generator_and_shared_parameter_appears_once():
    # tied weights: two layers sharing Parameters (one module twice in a Sequential is refused:
    # the second forward would overwrite the first one's cache)
    lin, tied = nnx.Linear(3, 3), nnx.Linear(3, 3)
    tied.weight, tied.bias = lin.weight, lin.bias
    model = nnx.Sequential(lin, nnx.ReLU(), tied)
    params = model.parameters()
    assert next(params) is lin.weight
    assert len(list(model.parameters())) == 2
    assert model.num_parameters() == 12


def test_sequential_indexing_len_iter():
    model = mlp()
    assert len(model) == 3
    assert isinstance(model[1], nnx.ReLU)
    assert isinstance(model[-1], nnx.Linear)
    assert isinstance(model[:2], nnx.Sequential) and len(model[:2]) == 2
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(IndexError):
        model[3]
    with pytest.raises(TypeError, match="nnx.Module"):
        nnx.Sequential(nnx.ReLU(), "relu")


def test_train_eval_recursive_and_return_self():
    model = mlp()
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())


def test_eval_forward_keeps_nothing_and_backward_raises():
    model = mlp().eval()
    model(np.ones((2, 4), np.float32))
    assert model[0]._x is None and model[1]._mask is None
    with pytest.raises(RuntimeError, match="Linear.backward: no cached forward"):
        model.backward(np.ones((2, 3), np.float32))


def test_backward_before_forward_names_the_layer():
    with pytest.raises(RuntimeError, match="ReLU.backward"):
        nnx.ReLU().backward(np.ones(3, np.float32))
    with pytest.raises(RuntimeError, match="Linear.backward"):
        nnx.Linear(2, 2).backward(np.ones((1, 2), np.float32))


def test_backward_accumulates_gradients_and_zero_grad_resets(rng):
    model = mlp(np.float64)
    x = rng.standard_normal((5, 4))
    dy = rng.standard_normal((5, 3))
    model(x)
    model.backward(dy)
    once = {n: p.grad.copy() for n, p in model.named_parameters()}
    model.backward(dy)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-12)
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())
    model.backward(dy)  # after zero_grad the next backward writes exactly one contribution
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, once[n], rtol=1e-12)


def test_backward_does_not_mutate_grad_out(rng):
    model = mlp(np.float64)
    model(rng.standard_normal((3, 4)))
    dy = rng.standard_normal((3, 3))
    keep = dy.copy()
    model.backward(dy)
    np.testing.assert_array_equal(dy, keep)


def test_input_grad_false_skips_first_input_gradient_but_keeps_param_grads(rng):
    a, b = mlp(np.float64), mlp(np.float64)
    x, dy = rng.standard_normal((4, 4)), rng.standard_normal((4, 3))
    a(x)
    b(x)
    assert a.backward(dy).shape == x.shape
    assert b.backward(dy, input_grad=False) is None
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.grad, pb.grad)


def test_state_dict_round_trip_and_snapshot_semantics():
    a, b = mlp(seed=0), mlp(seed=5)
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    sd["0.weight"][...] = 7  # a snapshot: editing it does not touch the model
    assert not (a[0].weight.data == 7).any()
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(a(x), b(x))


def test_load_state_dict_errors_name_key_and_shapes():
    model = mlp()
    sd = model.state_dict()
    sd["0.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"0.weight: shape mismatch.*\(8, 4\).*\(3, 3\)"):
        model.load_state_dict(sd)
    sd = model.state_dict()
    sd["0.bias"] = sd["0.bias"].astype(np.float64)
    with pytest.raises(ValueError, match="0.bias: dtype mismatch"):
        model.load_state_dict(sd)
    sd = model.state_dict()
    del sd["2.bias"]
    sd["extra"] = np.zeros(1, np.float32)
    with pytest.raises(RuntimeError, match="missing keys"):
        model.load_state_dict(sd)
    res = model.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["2.bias"] and res.unexpected_keys == ["extra"]


def test_parameter_validation():
    with pytest.raises(TypeError, match="float32 or float64"):
        nnx.Parameter(np.arange(3))
    with pytest.raises(TypeError, match="ndarray"):
        nnx.Parameter([1.0, 2.0])
    p = nnx.Parameter(np.ones((2, 3), np.float32))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()


def test_buffers_are_in_state_dict():
    class WithBuffer(nnx.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", np.zeros(3, np.float32))

    m = nnx.Sequential(WithBuffer())
    assert list(m.state_dict()) == ["0.running"]
    m.load_state_dict({"0.running": np.ones(3, np.float32)})
    np.testing.assert_array_equal(m[0].running, 1)


def test_setting_bias_none_unregisters():
    lin = nnx.Linear(2, 2)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_parameter_accumulate_writes_after_zero_grad_then_adds():
    p = nnx.Parameter(np.ones((2, 3)))
    p.grad[...] = np.nan  # zero_grad must make the next contribution a write, not an add
    p.zero_grad()
    p.accumulate(np.full((2, 3), 2.0))
    p.accumulate(lambda g, beta: np.multiply(g, beta, out=g).__iadd__(1.0))  # g := 1 + beta g
    np.testing.assert_array_equal(p.grad, np.full((2, 3), 3.0))
    p.zero_grad()
    seen = []
    p.accumulate(lambda g, beta: seen.append(beta) or g.fill(5.0))
    assert seen == [0.0] and (p.grad == 5).all()


def test_backward_input_grad_false_everywhere(rng):
    class Legacy(nnx.Module):  # a user's module written before the keyword existed
        def forward(self, x):
            return 2 * x

        def backward(self, grad_out):
            return 2 * grad_out

    for model in (nnx.Sequential(Legacy(), nnx.Linear(3, 2, dtype=np.float64, rng=0)),
                  nnx.Sequential(nnx.Linear(3, 4, dtype=np.float64, rng=0), nnx.ReLU(),
                                 nnx.BatchNorm1d(4, dtype=np.float64), nnx.Linear(4, 2, dtype=np.float64, rng=1))):
        x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
        model(x)
        dx = model.backward(dy)
        grads = [p.grad.copy() for p in model.parameters()]
        model.zero_grad()
        assert model.backward(dy, input_grad=False) is None
        for g, p in zip(grads, model.parameters(), strict=True):
            np.testing.assert_array_equal(p.grad, g)
        assert dx.shape == x.shape


def test_a_layer_that_overrides_forward_is_not_fused(rng):
    calls = []

    class Scaled(nnx.Linear):
        def forward(self, x, relu=False):
            calls.append(relu)
            return 2 * super().forward(x)

    model = nnx.Sequential(Scaled(3, 3, rng=0), nnx.ReLU(), nnx.Linear(3, 3, rng=1), nnx.ReLU())
    assert [len(mods) for _, mods in model.steps()] == [1, 1, 2]
    model(rng.standard_normal((2, 3)).astype(np.float32))
    assert calls == [False]
