"""Linear, ReLU, SoftmaxCrossEntropy: gradcheck in float64, tiers, init, dtypes, bad input."""
import math

import numpy as np
import pytest

import nnx


def test_gradcheck_linear(backend, rng):
    assert nnx.gradcheck(nnx.Linear(4, 3, rng=0), rng.standard_normal((5, 4)))


def test_gradcheck_linear_without_bias_and_with_leading_dims(rng):
    assert nnx.gradcheck(nnx.Linear(3, 2, bias=False, rng=0), rng.standard_normal((2, 3, 3)))


def test_gradcheck_relu(backend, rng):
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink, where the derivative is undefined
    assert nnx.gradcheck(nnx.ReLU(), x)


def test_gradcheck_mlp(backend, rng):
    model = nnx.Sequential(nnx.Linear(5, 6, rng=1), nnx.ReLU(), nnx.Linear(6, 4, rng=2))
    assert nnx.gradcheck(model, rng.standard_normal((3, 5)))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradcheck_softmax_cross_entropy(backend, rng, reduction):
    crit = nnx.SoftmaxCrossEntropy(reduction=reduction)
    assert nnx.gradcheck(crit, rng.standard_normal((4, 5)), target=rng.integers(0, 5, 4))


def test_gradcheck_catches_a_wrong_backward(rng):
    class BadLinear(nnx.Linear):
        def backward(self, grad_out):
            return 2 * super().backward(grad_out)

    with pytest.raises(nnx.GradcheckError, match=r"input at index \(\d+, \d+\): analytic -?\d") as err:
        nnx.gradcheck(BadLinear(3, 2, rng=0), rng.standard_normal((2, 3)))
    assert "np.float64" not in str(err.value)  # plain numbers, as a person writes them

    class BadBias(nnx.Linear):
        def backward(self, grad_out):
            dx = super().backward(grad_out)
            self.bias.grad += 1.0
            return dx

    with pytest.raises(nnx.GradcheckError, match="bias"):
        nnx.gradcheck(BadBias(3, 2, rng=0), rng.standard_normal((2, 3)))


def test_gradcheck_leaves_the_module_untouched(rng):
    lin = nnx.Linear(3, 2, rng=0)
    before = lin.state_dict()
    nnx.gradcheck(lin, rng.standard_normal((2, 3)).astype(np.float32))
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.data, before["weight"])


def test_linear_forward_matches_formula(backend, dtype, rng):
    lin = nnx.Linear(6, 4, dtype=dtype, rng=3)
    x = rng.standard_normal((5, 6)).astype(dtype)
    y = lin(x)
    assert y.dtype == dtype and y.shape == (5, 4)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, x @ lin.weight.data.T + lin.bias.data, rtol=tol, atol=tol)


def test_linear_default_init_matches_torch_bounds():
    lin = nnx.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    assert lin.weight.dtype == np.float32
    assert np.abs(lin.weight.data).max() <= bound
    assert np.abs(lin.bias.data).max() <= bound
    # U(-b, b) has std b / sqrt(3)
    assert lin.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_rng_makes_layers_reproducible():
    a, b = nnx.Linear(5, 5, rng=42), nnx.Linear(5, 5, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, nnx.Linear(5, 5, rng=43).weight.data)


def test_float64_everywhere(rng):
    model = nnx.Sequential(nnx.Linear(3, 4, dtype=np.float64), nnx.ReLU(), nnx.Linear(4, 2, dtype=np.float64))
    y = model(rng.standard_normal((2, 3)))
    assert y.dtype == np.float64
    crit = nnx.SoftmaxCrossEntropy()
    crit(y, np.array([0, 1]))
    assert model.backward(crit.backward()).dtype == np.float64


def test_linear_bad_input():
    with pytest.raises(ValueError, match="in_features: expected a positive integer, got 0"):
        nnx.Linear(0, 3)
    with pytest.raises(TypeError, match="out_features"):
        nnx.Linear(3, 2.5)
    with pytest.raises(TypeError, match="dtype"):
        nnx.Linear(3, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="rng"):
        nnx.Linear(3, 2, rng="seed")
    lin = nnx.Linear(3, 2)
    with pytest.raises(ValueError, match=r"expected input \(\*, 3\), got shape \(4, 5\)"):
        lin(np.ones((4, 5), np.float32))
    with pytest.raises(TypeError, match="dtype mismatch, expected float32, got float64"):
        lin(np.ones((4, 3)))
    with pytest.raises(TypeError, match="float32 or float64"):
        lin(np.ones((4, 3), np.int64))
    lin(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out of shape \(4, 2\)"):
        lin.backward(np.ones((5, 2), np.float32))


def test_linear_accepts_fortran_and_strided_input(rng):
    lin = nnx.Linear(4, 3, dtype=np.float64, rng=0)
    x = rng.standard_normal((6, 4))
    ref = lin(x)
    np.testing.assert_allclose(lin(np.asfortranarray(x)), ref, rtol=1e-12)
    big = np.zeros((12, 8))
    big[::2, ::2] = x
    np.testing.assert_allclose(lin(big[::2, ::2]), ref, rtol=1e-12)


def test_nan_propagates_through_the_model():
    model = nnx.Sequential(nnx.Linear(3, 3, rng=0), nnx.ReLU(), nnx.Linear(3, 2, rng=1))
    x = np.array([[np.nan, 1, 2], [0, 1, 2]], np.float32)
    y = model(x)
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()
    loss = nnx.SoftmaxCrossEntropy()(y, np.array([0, 1]))
    assert math.isnan(loss)


def test_loss_module_behaviour(rng):
    crit = nnx.SoftmaxCrossEntropy()
    with pytest.raises(RuntimeError, match="SoftmaxCrossEntropy.backward"):
        crit.backward()
    with pytest.raises(ValueError, match="reduction"):
        nnx.SoftmaxCrossEntropy(reduction="none-such")
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 1, 2, 0])
    loss = crit(logits, labels)
    assert isinstance(loss, float)
    g1 = crit.backward()
    g1 += 1  # the caller owns what backward returns
    np.testing.assert_allclose(crit.backward() + 1, g1)
    np.testing.assert_allclose(crit.backward(2.0), 2 * crit.backward())
    total = nnx.SoftmaxCrossEntropy(reduction="sum")(logits, labels)
    assert total == pytest.approx(4 * loss)
