"""Normalize: the preprocessing a model was trained with, as its first layer (three tiers,
gradients, checks), and what it changes for a saved model: nnx.load + nnx.evaluate, the CLI and
ONNX compute the same thing on raw inputs."""
import numpy as np
import pytest
from helpers import TIERS

import nnx
from nnx.kernels import get_backend


@pytest.mark.parametrize("shape, mean, std", [((5, 3, 4, 4), [0.5, -1.0, 2.0], [2.0, 0.5, 1.5]),
                                              ((6, 10), 0.1307, 0.3081), ((7,), [0.25], [4.0])])
def test_the_tiers_agree_bit_for_bit_and_the_gradient_is_dy_over_std(shape, mean, std, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    m, s = (np.atleast_1d(np.asarray(v, np.float32)) for v in (mean, std))
    per_channel = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 1 else (-1,)
    m_b, s_b = m.reshape(per_channel), s.reshape(per_channel)
    dy = rng.standard_normal(shape).astype(np.float32)
    for name in TIERS:
        t = get_backend(name)
        np.testing.assert_array_equal(t.normalize_forward(x, m, s), (x - m_b) / s_b)
        np.testing.assert_array_equal(t.normalize_backward(dy, s), dy / s_b)


def test_the_layer_gradchecks_and_round_trips_its_config():
    layer = nnx.Normalize([0.5, 0.25], [2.0, 4.0], dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    assert nnx.gradcheck(layer, x)
    back = nnx.Normalize.from_config(layer.get_config())
    np.testing.assert_array_equal(back.forward(x), layer.forward(x))
    assert [k for k, _ in layer.named_buffers()] == ["mean", "std"] and not list(layer.parameters())
    assert repr(nnx.Normalize(0.5, 0.25)) == "Normalize(mean=0.5, std=0.25)"


@pytest.mark.parametrize("mean, std, match", [
    (0.0, 0.0, "std: expected values > 0"), (0.0, -1.0, "std: expected values > 0"),
    (np.nan, 1.0, "mean: expected finite values"), ([0.0, 1.0], [1.0, 2.0, 3.0], "mean has 2 values and std 3"),
    ([[0.0]], 1.0, "mean: expected a number or one value per channel"), ("a", 1.0, "mean: expected a number")])
def test_bad_statistics_are_refused_naming_them(mean, std, match):
    with pytest.raises((ValueError, TypeError), match=f"Normalize: {match}"):
        nnx.Normalize(mean, std)


def test_inputs_that_do_not_fit_are_refused_before_any_arithmetic():
    layer = nnx.Normalize([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    for name in TIERS:
        with pytest.raises(ValueError, match="normalize_forward: mean: expected 2 values .* or 1, got 3"):
            get_backend(name).normalize_forward(np.ones((4, 2, 5), np.float32), layer.mean, layer.std)
    with pytest.raises(TypeError):
        layer.forward(np.ones((4, 3), np.float64))  # a float32 layer: no silent cast
