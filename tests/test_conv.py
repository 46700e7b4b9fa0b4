"""Convolution and pooling: kernels (tiers agree, loops is the reference), layers (gradcheck),
thread-count invariance, bad input."""
import numpy as np
import pytest
from helpers import FAST_TIERS, TIERS, assert_allclose
from hypothesis import given, settings
from hypothesis import strategies as st

import nnx
from nnx.kernels import get_backend

LOOPS = get_backend("loops")
# (N, C, H, W, OC, kh, kw, stride, pad): kh != kw, H != W, stride > 1, padding, batch 1
GEOMETRIES = [
    (2, 3, 7, 6, 4, 3, 2, 1, 0),
    (1, 2, 6, 9, 3, 2, 3, (2, 1), (1, 2)),
    (3, 1, 8, 8, 2, 5, 5, 1, 2),
    (2, 4, 9, 7, 5, 3, 3, 3, 1),
    (1, 1, 5, 5, 1, 5, 5, 1, 0),
    # OC a multiple of 16 and C*kh*kw >= 16: the compiled weight gradient's tile-GEMM form
    (5, 2, 6, 5, 16, 3, 3, 1, 1),
    (3, 2, 7, 7, 32, 3, 3, 2, 1),
]


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("geo", GEOMETRIES)
def test_im2col_col2im_match_loops(tier, dtype, rng, geo):
    n, c, h, w, _, kh, kw, s, p = geo
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    cols = tier.im2col(x, kh, kw, s, p)
    np.testing.assert_array_equal(cols, LOOPS.im2col(x, kh, kw, s, p))
    g = rng.standard_normal(cols.shape).astype(dtype)
    assert_allclose(tier.col2im(g, x.shape, kh, kw, s, p), LOOPS.col2im(g, x.shape, kh, kw, s, p),
                    dtype, **_tol(dtype))


def test_col2im_is_the_adjoint_of_im2col(fast_tier, rng):
    x = rng.standard_normal((2, 3, 6, 5))
    cols = fast_tier.im2col(x, 3, 2, 2, 1)
    g = rng.standard_normal(cols.shape)
    # <im2col(x), g> == <x, col2im(g)>
    assert np.vdot(cols, g) == pytest.approx(np.vdot(x, fast_tier.col2im(g, x.shape, 3, 2, 2, 1)), rel=1e-12)


@pytest.mark.parametrize("geo", GEOMETRIES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_forward_backward_match_loops(tier, dtype, rng, geo, bias):
    n, c, h, w, oc, kh, kw, s, p = geo
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((oc, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(oc).astype(dtype) if bias else None
    y, cache = tier.conv2d_forward(x, wt, b, s, p)
    y_ref, cache_ref = LOOPS.conv2d_forward(x, wt, b, s, p)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_allclose(y, y_ref, dtype, **_tol(dtype))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = tier.conv2d_backward(dy, cache)
    dx_r, dw_r, db_r = LOOPS.conv2d_backward(dy, cache_ref)
    assert_allclose(dx, dx_r, dtype, **_tol(dtype))
    assert_allclose(dw, dw_r, dtype, **_tol(dtype))
    if bias:
        assert_allclose(db, db_r, dtype, **_tol(dtype))
    else:
        assert db is None
    dx2, dw2, _ = tier.conv2d_backward(dy, cache, input_grad=False)
    assert dx2 is None
    np.testing.assert_array_equal(dw2, dw)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 4), oc=st.integers(1, 20), h=st.integers(1, 12),
       w=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 99))
def test_conv2d_compiled_matches_vectorized_on_generated_shapes(n, c, oc, h, w, kh, kw, sh, sw, ph, pw, seed):
    if "cython" not in TIERS or kh > h + 2 * ph or kw > w + 2 * pw:
        return
    rng = np.random.default_rng(seed)
    V, C = get_backend("vectorized"), get_backend("cython")
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((oc, c, kh, kw))
    b = rng.standard_normal(oc)
    (yv, cv), (yc, cc) = V.conv2d_forward(x, wt, b, (sh, sw), (ph, pw)), C.conv2d_forward(x, wt, b, (sh, sw), (ph, pw))
    np.testing.assert_allclose(yc, yv, rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(yv.shape)
    for a, r in zip(C.conv2d_backward(dy, cc), V.conv2d_backward(dy, cv), strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("k,s", [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)])
def test_pooling_matches_loops(tier, dtype, rng, k, s):
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    y, arg = tier.maxpool2d_forward(x, k, s)
    y_r, arg_r = LOOPS.maxpool2d_forward(x, k, s)
    np.testing.assert_array_equal(y, y_r)
    np.testing.assert_array_equal(arg, arg_r)
    assert arg.dtype == np.int64
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_allclose(tier.maxpool2d_backward(dy, arg, x.shape), LOOPS.maxpool2d_backward(dy, arg_r, x.shape),
                    dtype, **_tol(dtype))
    assert_allclose(tier.avgpool2d_forward(x, k, s), LOOPS.avgpool2d_forward(x, k, s), dtype, **_tol(dtype))
    assert_allclose(tier.avgpool2d_backward(dy, x.shape, k, s), LOOPS.avgpool2d_backward(dy, x.shape, k, s),
                    dtype, **_tol(dtype))


def test_maxpool_ties_go_to_the_first_maximum_and_nan_wins(tier):
    x = np.array([[[[1.0, 1.0], [1.0, 0.0]]]])
    y, arg = tier.maxpool2d_forward(x, 2)
    assert y[0, 0, 0, 0] == 1 and arg[0, 0, 0, 0] == 0
    x = np.array([[[[1.0, np.nan], [5.0, 0.0]]]], np.float32)
    y, arg = tier.maxpool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 1


def test_maxpool_2x2_matches_loops_on_ties_nans_and_infs(tier):
    """The 2x2 stride-2 windows (a separate path in the compiled tier) on small integers (ties
    everywhere), NaNs (the last one in a window wins) and -inf / +inf, odd sizes included."""
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, (3, 4, 9, 11)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    x[rng.random(x.shape) < 0.05] = np.inf
    x[0, 0, :2, :2] = -np.inf  # a window of only -inf: index of its first tap, as torch
    y, arg = tier.maxpool2d_forward(x, 2)
    y_ref, arg_ref = LOOPS.maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(y, y_ref)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(arg, arg_ref)
    assert arg[0, 0, 0, 0] == 0 and y[0, 0, 0, 0] == -np.inf


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_conv_and_pool_results_do_not_depend_on_thread_count(rng):
    C = get_backend("cython")
    x = rng.standard_normal((37, 3, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    ref = None
    for n in (1, 2, 3):
        y, cache = C.conv2d_forward(x, w, b, 1, 1, n_threads=n)
        dy = np.cos(y)
        dx, dw, db = C.conv2d_backward(dy, cache, n_threads=n)
        p, arg = C.maxpool2d_forward(y, 2, n_threads=n)
        got = (y, dx, dw, db, p, arg, C.maxpool2d_backward(p, arg, y.shape, n_threads=n))
        if ref is None:
            ref = got
        for a, r in zip(got, ref, strict=True):
            np.testing.assert_array_equal(a, r)  # bit-identical, dw included


def test_conv_kernels_do_not_mutate_inputs(tier, rng):
    x = rng.standard_normal((2, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    keep_x, keep_w = x.copy(), w.copy()
    y, cache = tier.conv2d_forward(x, w, None, 1, 1)
    dy = rng.standard_normal(y.shape)
    keep_dy = dy.copy()
    tier.conv2d_backward(dy, cache)
    p, arg = tier.maxpool2d_forward(x, 2)
    tier.maxpool2d_backward(p, arg, x.shape)
    np.testing.assert_array_equal(x, keep_x)
    np.testing.assert_array_equal(w, keep_w)
    np.testing.assert_array_equal(dy, keep_dy)


def test_conv_bad_input(tier):
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="channel mismatch"):
        tier.conv2d_forward(x, np.zeros((4, 2, 3, 3), np.float32), None, 1, 0)
    with pytest.raises(ValueError, match="too small for the kernel"):
        tier.conv2d_forward(np.zeros((1, 3, 2, 2), np.float32), w, None, 1, 0)
    with pytest.raises(ValueError, match="4-D"):
        tier.conv2d_forward(np.zeros((3, 8, 8), np.float32), w, None, 1, 0)
    with pytest.raises(ValueError, match="stride"):
        tier.conv2d_forward(x, w, None, 0, 0)
    with pytest.raises(ValueError, match="pad"):
        tier.conv2d_forward(x, w, None, 1, -1)
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\)"):
        tier.conv2d_forward(x, w, np.zeros(3, np.float32), 1, 0)
    with pytest.raises(TypeError, match="dtype mismatch"):
        tier.conv2d_forward(x, w.astype(np.float64), None, 1, 0)
    y, cache = tier.conv2d_forward(x, w, None, 1, 0)
    with pytest.raises(ValueError, match="dy: expected shape"):
        tier.conv2d_backward(np.zeros((2, 4, 5, 5), np.float32), cache)
    with pytest.raises(TypeError, match="cache"):
        tier.conv2d_backward(y, {"x": x})
    with pytest.raises(ValueError, match="cols: expected shape"):
        tier.col2im(np.zeros((5, 5)), (1, 1, 4, 4), 2, 2, 1, 0)
    with pytest.raises(ValueError, match="too small"):
        tier.maxpool2d_forward(np.zeros((1, 1, 2, 2)), 3)
    _, arg = tier.maxpool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="argmax"):
        tier.maxpool2d_backward(np.zeros((1, 1, 2, 2)), arg + 100, (1, 1, 4, 4))
    with pytest.raises(TypeError, match="argmax"):
        tier.maxpool2d_backward(np.zeros((1, 1, 2, 2)), arg.astype(np.int32), (1, 1, 4, 4))


# ---- layers -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=(3, 2), stride=2, padding=1),
                                    dict(kernel_size=2, stride=(1, 2), padding=(0, 1), bias=False)])
def test_gradcheck_conv2d(backend, rng, kwargs):
    layer = nnx.Conv2d(2, 3, rng=0, **kwargs)
    assert nnx.gradcheck(layer, rng.standard_normal((2, 2, 5, 6)))


def test_gradcheck_pools_and_flatten(backend, rng):
    x = rng.standard_normal((2, 2, 6, 5))
    assert nnx.gradcheck(nnx.MaxPool2d(2), x)
    assert nnx.gradcheck(nnx.MaxPool2d((3, 2), stride=1), x)  # overlapping windows
    assert nnx.gradcheck(nnx.AvgPool2d(2), x)
    assert nnx.gradcheck(nnx.AvgPool2d(3, stride=(1, 2)), x)
    assert nnx.gradcheck(nnx.Flatten(), x)


def test_gradcheck_small_cnn(rng):
    model = nnx.Sequential(nnx.Conv2d(1, 3, 3, padding=1, rng=0), nnx.ReLU(), nnx.MaxPool2d(2),
                           nnx.Flatten(), nnx.Linear(18, 4, rng=1))
    x = rng.standard_normal((2, 1, 4, 6))
    assert nnx.gradcheck(model, x)


def test_conv2d_layout_and_init_match_torch_conventions():
    conv = nnx.Conv2d(3, 8, (5, 3), rng=0)
    assert conv.weight.shape == (8, 3, 5, 3) and conv.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 5 * 3)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]


def test_conv_layer_bad_input():
    with pytest.raises(ValueError, match="out_channels"):
        nnx.Conv2d(1, 0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        nnx.Conv2d(1, 2, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        nnx.Conv2d(1, 2, (3, 3, 3))
    with pytest.raises(ValueError, match="padding"):
        nnx.Conv2d(1, 2, 3, padding=-1)
    with pytest.raises(ValueError, match="stride"):
        nnx.MaxPool2d(2, stride=0)
    conv = nnx.Conv2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"with C=3, got shape \(8, 1, 28, 28\)"):
        conv(np.zeros((8, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        nnx.MaxPool2d(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(RuntimeError, match="MaxPool2d.backward"):
        nnx.MaxPool2d(2).backward(np.zeros((1, 1, 1, 1)))
    with pytest.raises(RuntimeError, match="Conv2d.backward"):
        conv.backward(np.zeros((1, 2, 1, 1), np.float32))


def test_conv_layer_accumulates_and_skips_input_grad(rng):
    a = nnx.Conv2d(2, 3, 3, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    dy = rng.standard_normal((2, 3, 3, 3))
    a(x)
    dx = a.backward(dy)
    once = a.weight.grad.copy()
    a.backward(dy, input_grad=False)
    np.testing.assert_allclose(a.weight.grad, 2 * once)
    assert dx.shape == x.shape


def test_fast_tiers_agree_on_lenet_sized_batch(rng):
    if len(FAST_TIERS) < 2:
        pytest.skip("compiled tier not built")
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    outs = []
    for t in FAST_TIERS:
        with nnx.use_backend(t):
            m = nnx.Sequential(nnx.Conv2d(1, 6, 5, padding=2, rng=0), nnx.ReLU(), nnx.MaxPool2d(2),
                               nnx.Conv2d(6, 16, 5, rng=1), nnx.ReLU(), nnx.AvgPool2d(2), nnx.Flatten())
            y = m(x)
            outs.append((y, m.backward(np.ones_like(y)), m[0].weight.grad.copy()))
    for a, b in zip(*outs, strict=True):
        assert_allclose(a, b, np.float32, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
@pytest.mark.parametrize("hw", [8, 48])  # one padded image 2.5 KB (B read in place) or 80 KB (B packed)
def test_compiled_conv_tile_gemm_reads_small_and_large_images_alike(hw, rng):
    C, V = get_backend("cython"), get_backend("vectorized")
    x = rng.standard_normal((3, 8, hw, hw)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    y, cache = C.conv2d_forward(x, w, None, 1, 1)
    y_ref, cache_ref = V.conv2d_forward(x, w, None, 1, 1)
    assert_allclose(y, y_ref, np.float32, rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for got, want in zip(C.conv2d_backward(dy, cache)[:2], V.conv2d_backward(dy, cache_ref)[:2], strict=True):
        assert_allclose(got, want, np.float32, rtol=1e-4, atol=1e-3)  # float32 sums of up to 7,000 terms
