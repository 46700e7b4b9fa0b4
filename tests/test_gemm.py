"""The compiled tier's blocked GEMM against NumPy (float64 reference) over generated cases,
and the fused bias/ReLU epilogue against the unfused path."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnx
from nnx.kernels import compiled_available, get_backend

pytestmark = pytest.mark.skipif(not compiled_available(), reason="compiled tier not built")

# Relative to the size of the terms: float32 sums of K products round at ~K * 6e-8 in the
# worst case; K <= 600 here.
TOL = {np.float32: 5e-5, np.float64: 1e-12}


def _operand(rng, shape, dtype, layout):
    """An array of ``shape`` stored contiguous, as a transposed view, or as a strided slice."""
    if layout == "transposed":
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype(dtype)).T
    if layout == "strided":
        big = rng.standard_normal((shape[0] * 2, shape[1] * 3)).astype(dtype)
        return big[::2, ::3]
    return rng.standard_normal(shape).astype(dtype)


def _reference(a, b, ta, tb, c0, beta, bias, relu):
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    if beta:
        ref += beta * c0.astype(np.float64)
    if bias is not None:
        ref += bias
    if relu:
        ref = np.where(ref <= 0, 0, ref)
    scale = (np.abs(a).astype(np.float64).max(initial=0) * np.abs(b).max(initial=0) * max(a.shape + b.shape)
             + np.abs(c0).max(initial=0) + 1)
    return ref, scale


dims = st.one_of(st.integers(0, 3), st.integers(1, 70), st.sampled_from([97, 128, 257, 600]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=dims, n=dims, k=dims, ta=st.booleans(), tb=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), beta=st.sampled_from([0.0, 1.0, -0.5]),
       use_bias=st.booleans(), relu=st.booleans(), threads=st.sampled_from([1, 2, 3]),
       la=st.sampled_from(["contiguous", "transposed", "strided"]),
       lb=st.sampled_from(["contiguous", "transposed", "strided"]), seed=st.integers(0, 2**32 - 1))
def test_gemm_matches_numpy(m, n, k, ta, tb, dtype, beta, use_bias, relu, threads, la, lb, seed):
    rng = np.random.default_rng(seed)
    a = _operand(rng, (k, m) if ta else (m, k), dtype, la)
    b = _operand(rng, (n, k) if tb else (k, n), dtype, lb)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype) if use_bias else None
    out = c0.copy() if beta else None
    got = get_backend("cython").gemm(a, b, ta, tb, out=out, beta=beta, bias=bias, relu=relu, n_threads=threads)
    assert got.shape == (m, n) and got.dtype == dtype
    ref, scale = _reference(a, b, ta, tb, c0, beta, bias, relu)
    assert np.all(np.abs(got - ref) <= TOL[dtype] * scale)
    if out is not None:
        assert got is out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [6, 8, 12, 16, 48, 96, 102, 192, 200])
@pytest.mark.parametrize("k", [8, 16, 200, 784])
def test_row_panel_packing_edges(m, k, dtype):
    """A row-major A is packed through 8-column register transposes (6-row panels on AVX2 store
    two values past each block that the next block overwrites): whole panels, K a multiple of 8
    and m filling the last panel exactly are where a stray store would land on packed B."""
    rng = np.random.default_rng(m * 1000 + k)
    a = rng.standard_normal((m, k)).astype(dtype)
    for n in (10, 16, 40):
        b = rng.standard_normal((n, k)).astype(dtype)
        for threads in (1, 2):
            got = get_backend("cython").gemm(a, b, trans_b=True, n_threads=threads)
            ref, scale = _reference(a, b, False, True, np.zeros((m, n)), 0.0, None, False)
            assert np.all(np.abs(got - ref) <= TOL[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 513, 77), (300, 1, 40), (7, 11, 13), (131, 257, 601),
                                   (64, 96, 256), (9, 1000, 3)])
def test_thread_count_invariant(shape, dtype):
    """Each element is summed in the same order whatever the thread count: bitwise equal."""
    m, n, k = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    kern = get_backend("cython")
    results = [kern.gemm(a, b, bias=bias, relu=True, n_threads=t) for t in (1, 2, 3, 4)]
    for r in results[1:]:
        assert np.array_equal(r, results[0])


def test_tiers_agree_with_loops_on_small_inputs():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 7))
    b = rng.standard_normal((6, 7))
    bias = rng.standard_normal(6)
    c = rng.standard_normal((5, 6))
    ref = get_backend("loops").gemm(a, b, trans_b=True, out=c.copy(), beta=0.5, bias=bias, relu=True)
    for tier in ("vectorized", "cython"):
        got = get_backend(tier).gemm(a, b, trans_b=True, out=c.copy(), beta=0.5, bias=bias, relu=True)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_nan_and_signed_zero_through_the_fused_relu():
    a = np.array([[np.nan, 1.0], [1.0, 1.0], [-1.0, 0.0]], np.float32)
    b = np.array([[1.0], [0.0]], np.float32)
    bias = np.array([0.0], np.float32)
    got = get_backend("cython").gemm(a, b, bias=bias, relu=True)
    assert np.isnan(got[0, 0]) and got[1, 0] == 1.0 and got[2, 0] == 0.0 and not np.signbit(got[2, 0])


@pytest.mark.parametrize("bad, match", [
    (dict(bias=np.zeros(3, np.float32)), "bias"),
    (dict(bias=np.zeros(4, np.float64)), "bias"),
    (dict(bias=np.zeros((1, 4), np.float32)), "bias"),
    (dict(relu=1), "relu"),
])
def test_epilogue_arguments_are_checked(bad, match):
    a = np.zeros((2, 3), np.float32)
    b = np.zeros((3, 4), np.float32)
    for tier in ("loops", "vectorized", "cython"):
        with pytest.raises((TypeError, ValueError), match=match):
            get_backend(tier).gemm(a, b, **bad)


@pytest.mark.parametrize("backend", ["vectorized", "cython"])
def test_sequential_fused_linear_relu_equals_unfused(backend):
    """Sequential runs Linear+ReLU as one fused GEMM; forward, backward and every gradient must
    equal the module-by-module path exactly (same kernels, same order)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((33, 20)).astype(np.float32)
    with nnx.use_backend(backend):
        def build():
            return nnx.Sequential(nnx.Linear(20, 64, rng=0), nnx.ReLU(), nnx.Linear(64, 64, rng=1), nnx.ReLU(),
                                  nnx.Linear(64, 5, rng=2))
        fused, plain = build(), build()
        plain.fusion = False
        yf, yp = fused(x), plain(x)
        np.testing.assert_array_equal(yf, yp)
        dy = rng.standard_normal(yf.shape).astype(np.float32)
        np.testing.assert_array_equal(fused.backward(dy), plain.backward(dy))
        for (name, p), (_, q) in zip(fused.named_parameters(), plain.named_parameters(), strict=True):
            np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)
        # the unfused path really is unfused: the first ReLU saw the pre-activation
        manual = plain[1].forward(plain[0].forward(x))
        np.testing.assert_array_equal(manual, fused[1].forward_rectified(fused[0].forward(x, relu=True)))


def test_fused_linear_relu_gradcheck():
    model = nnx.Sequential(nnx.Linear(6, 5, dtype=np.float64, rng=0), nnx.ReLU(),
                           nnx.Linear(5, 3, dtype=np.float64, rng=1))
    x = np.random.default_rng(2).standard_normal((4, 6))
    assert nnx.gradcheck(model, x)


@pytest.mark.parametrize("backend", ["vectorized", "cython"])
def test_sequential_fused_conv_relu_equals_unfused(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 2, 9, 9)).astype(np.float32)
    with nnx.use_backend(backend):
        def build():
            return nnx.Sequential(nnx.Conv2d(2, 4, 3, padding=1, rng=0), nnx.ReLU(), nnx.MaxPool2d(2),
                                  nnx.Conv2d(4, 5, 3, stride=2, rng=1), nnx.ReLU(), nnx.Flatten(),
                                  nnx.Linear(5, 3, rng=2))
        fused, plain = build(), build()
        plain.fusion = False
        np.testing.assert_array_equal(fused(x), plain(x))
        dy = rng.standard_normal((6, 3)).astype(np.float32)
        np.testing.assert_array_equal(fused.backward(dy), plain.backward(dy))
        for (name, p), (_, q) in zip(fused.named_parameters(), plain.named_parameters(), strict=True):
            np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_relu_epilogue_tiers_agree_with_loops(stride):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    ref, _ = get_backend("loops").conv2d_forward(x, w, b, stride, 1, relu=True)
    assert (ref == 0).any() and (ref > 0).any()
    for tier in ("vectorized", "cython"):
        y, _ = get_backend(tier).conv2d_forward(x, w, b, stride, 1, relu=True)
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
        unfused, _ = get_backend(tier).conv2d_forward(x, w, b, stride, 1)
        np.testing.assert_array_equal(y, np.where(unfused <= 0, 0, unfused))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_kernel_gives_the_same_bits(dtype):
    """Few-column products take the narrow micro-kernel; each element still goes through the
    same operations, so its columns equal the same columns of a wide product bit for bit. One
    column (or one row) is a matrix-vector product with its own fixed order (no packing, a dot
    in 8 partial sums): equal to rounding, and the same at any thread count."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((37, 300)).astype(dtype)
    b = rng.standard_normal((300, 40)).astype(dtype)
    bias = rng.standard_normal(40).astype(dtype)
    kern = get_backend("cython")
    wide = kern.gemm(a, b, bias=bias, relu=True)
    for n in (2, 5, 8, 10):
        narrow = kern.gemm(a, np.ascontiguousarray(b[:, :n]), bias=bias[:n], relu=True)
        np.testing.assert_array_equal(narrow, wide[:, :n])
    column = kern.gemm(a, np.ascontiguousarray(b[:, :1]), bias=bias[:1], relu=True)
    np.testing.assert_allclose(column, wide[:, :1], rtol=TOL[dtype], atol=TOL[dtype] * 300)
