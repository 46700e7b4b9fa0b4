"""MaxPool2d and AvgPool2d with torch's padding, ceil_mode and count_include_pad: the output
shape and values of every combination against torch (when installed) in float64, with every tier,
gradients by gradcheck, and ONNX export -> onnxruntime and nnx's import."""
import importlib.util
import itertools

import numpy as np
import pytest

import nnx

COMBOS = [(k, s, p, ceil, cip, h) for k, s, p, ceil, cip, h in
          itertools.product([2, 3], [1, 2, 3], [0, 1], [False, True], [False, True], [5, 6, 7]) if p <= k // 2]


def _pools(k, s, p, ceil, cip):
    return [("max", nnx.MaxPool2d(k, s, p, ceil)), ("avg", nnx.AvgPool2d(k, s, p, ceil, count_include_pad=cip))]


def test_every_combination_matches_torch(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for k, s, p, ceil, cip, h in COMBOS:
        x = rng.standard_normal((2, 3, h, h + 1))
        for kind, m in _pools(k, s, p, ceil, cip):
            f = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
            extra = {} if kind == "max" else {"count_include_pad": cip}
            xt = torch.tensor(x, requires_grad=True)
            yt = f(xt, k, s, p, ceil_mode=ceil, **extra)
            y = m.forward(x)
            assert y.shape == tuple(yt.shape) == m.output_shape(x.shape), (kind, k, s, p, ceil, cip, h)
            np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
            dy = rng.standard_normal(y.shape)
            yt.backward(torch.tensor(dy))
            np.testing.assert_allclose(m.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k, s, p, ceil, cip, h", [(3, 2, 1, True, False, 6), (2, 2, 1, False, True, 5),
                                                    (3, 3, 1, True, True, 7), (2, 1, 0, True, False, 5)])
def test_gradcheck(k, s, p, ceil, cip, h):
    x = np.random.default_rng(1).standard_normal((2, 2, h, h + 1))
    for _, m in _pools(k, s, p, ceil, cip):
        assert nnx.gradcheck(m, x)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="padding: expected at most half the kernel"):
        nnx.MaxPool2d(2, padding=2)
    with pytest.raises(TypeError, match="ceil_mode: expected a bool"):
        nnx.AvgPool2d(2, ceil_mode=1)
    with pytest.raises(TypeError, match="count_include_pad: expected a bool"):
        nnx.AvgPool2d(2, count_include_pad="no")
    with pytest.raises(ValueError, match="smaller than the kernel"):
        nnx.MaxPool2d(5).forward(np.zeros((1, 1, 3, 3), np.float32))


@pytest.mark.parametrize("k, s, p, ceil, cip, h", [(3, 2, 1, True, False, 6), (3, 2, 1, False, True, 7),
                                                    (2, 2, 0, True, True, 5)])
def test_onnx_round_trip(tmp_path, k, s, p, ceil, cip, h):
    if importlib.util.find_spec("onnx") is None:
        pytest.skip("needs the onnx extra")
    import nnx.onnx
    x = np.random.default_rng(2).standard_normal((2, 3, h, h + 1)).astype(np.float32)
    for kind, m in _pools(k, s, p, ceil, cip):
        nnx.onnx.export(nnx.Sequential(m), tmp_path / f"{kind}.onnx", x.shape[1:])
        back = nnx.onnx.load(tmp_path / f"{kind}.onnx")
        np.testing.assert_array_equal(back(x), m.forward(x))
        if importlib.util.find_spec("onnxruntime") is not None:
            import onnxruntime as ort
            session = ort.InferenceSession(str(tmp_path / f"{kind}.onnx"), providers=["CPUExecutionProvider"])
            np.testing.assert_allclose(session.run(None, {"input": x})[0], m.forward(x), rtol=1e-6, atol=1e-6)
