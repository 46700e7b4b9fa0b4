"""Kernel tiers: loops is the reference; vectorized and cython must agree with it and each other."""
import numpy as np
import pytest
from helpers import TIERS, assert_allclose

import nnx
from nnx.kernels import get_backend

LOOPS = get_backend("loops")


# ---- gemm --------------------------------------------------------------------------------
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_loops_all_flags(tier, dtype, rng, trans_a, trans_b):
    m, k, n = 5, 7, 3
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    got = tier.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.dtype == dtype and got.shape == (m, n)
    assert_allclose(got, ref.astype(dtype), dtype, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemm_beta_accumulates_into_out(tier, dtype, rng):
    a = rng.standard_normal((4, 6)).astype(dtype)
    b = rng.standard_normal((6, 5)).astype(dtype)
    c0 = rng.standard_normal((4, 5)).astype(dtype)
    out = c0.copy()
    res = tier.gemm(a, b, out=out, beta=0.5)
    assert res is out
    assert_allclose(out, a @ b + 0.5 * c0, dtype, atol=1e-5)


def test_gemm_beta_zero_ignores_nan_in_out(tier, rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 2))
    out = np.full((3, 2), np.nan)
    tier.gemm(a, b, out=out)
    assert_allclose(out, a @ b)


def test_gemm_empty_inner_dimension(tier):
    c = tier.gemm(np.zeros((3, 0)), np.zeros((0, 4)))
    assert c.shape == (3, 4) and not c.any()


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_gemm_accepts_non_contiguous_input(tier, rng, layout):
    base = rng.standard_normal((8, 10))
    a = np.asfortranarray(base[:4, :6]) if layout == "fortran" else base[::2, ::2][:4, :5][:, :5]
    b = rng.standard_normal((a.shape[1], 3))
    assert_allclose(tier.gemm(a, b), a @ b)


def test_gemm_bad_input(tier):
    a = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        tier.gemm(a, np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match="dtype mismatch"):
        tier.gemm(a, np.ones((3, 2), np.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        tier.gemm(np.ones((2, 3), np.int64), np.ones((3, 2), np.int64))
    with pytest.raises(ValueError, match="2-D"):
        tier.gemm(np.ones(3, np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="needs an `out`"):
        tier.gemm(a, np.ones((3, 2), np.float32), beta=1.0)
    with pytest.raises(ValueError, match=r"expected shape \(2, 2\)"):
        tier.gemm(a, np.ones((3, 2), np.float32), out=np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="trans_a"):
        tier.gemm(a, a, trans_a="yes")


# ---- relu --------------------------------------------------------------------------------
def test_relu_matches_loops(tier, dtype, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    x[0, 0, 0, :2] = 0.0
    y, mask = tier.relu_forward(x)
    y_ref, mask_ref = LOOPS.relu_forward(x)
    assert mask.dtype == np.bool_ and mask.shape == x.shape and y.dtype == dtype
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    dy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(tier.relu_backward(dy, mask), np.where(x > 0, dy, 0))


def test_relu_nan_passes_forward_and_masked_grad_is_exact_zero(tier):
    x = np.array([np.nan, -1.0, 2.0, -np.inf, np.inf], np.float32)
    y, mask = tier.relu_forward(x)
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2 and y[3] == 0 and y[4] == np.inf
    assert not np.signbit(y[1])
    dy = np.array([1.0, np.nan, 3.0, np.nan, 5.0], np.float32)
    np.testing.assert_array_equal(tier.relu_backward(dy, mask), [0, 0, 3, 0, 5])


def test_relu_large_input_parallel_path(fast_tier, rng):
    x = rng.standard_normal(600_000).astype(np.float32)  # above the parallel threshold
    y, mask = fast_tier.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(mask, x > 0)


def test_relu_bad_input(tier):
    with pytest.raises(TypeError, match="float32 or float64"):
        tier.relu_forward(np.arange(4))
    with pytest.raises(TypeError, match="mask"):
        tier.relu_backward(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="mask"):
        tier.relu_backward(np.ones(3), np.ones(4, bool))


# ---- softmax family ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (4, 17), (2, 33)])
def test_softmax_and_log_softmax_match_loops(tier, dtype, rng, shape):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    assert_allclose(tier.softmax(x), LOOPS.softmax(x), dtype)
    assert_allclose(tier.log_softmax(x), LOOPS.log_softmax(x), dtype, atol=1e-5 if dtype == np.float32 else 1e-12)
    assert_allclose(tier.softmax(x).sum(axis=1), np.ones(shape[0]), dtype)


def test_softmax_is_stable_for_huge_logits(tier, dtype):
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1e4]], dtype)
    p = tier.softmax(x)
    assert np.isfinite(p).all()
    assert_allclose(p, np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]), dtype)
    assert np.isfinite(tier.log_softmax(x)[:, :2]).all()


def test_softmax_nan_row_propagates_other_rows_clean(tier):
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]], np.float32)
    p = tier.softmax(x)
    assert np.isnan(p[0]).all()
    assert_allclose(p[1], LOOPS.softmax(x[1:])[0])


def test_softmax_minus_inf_logit_gets_zero_probability(tier):
    p = tier.softmax(np.array([[-np.inf, 0.0, 0.0]], np.float32))
    np.testing.assert_array_equal(p, [[0.0, 0.5, 0.5]])


@pytest.mark.parametrize("n,c", [(1, 1), (1, 5), (6, 10), (5, 37)])
def test_softmax_cross_entropy_matches_loops(tier, dtype, rng, n, c):
    logits = (rng.standard_normal((n, c)) * 3).astype(dtype)
    labels = rng.integers(0, c, n)
    loss, d = tier.softmax_cross_entropy(logits, labels)
    loss_ref, d_ref = LOOPS.softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float) and d.dtype == dtype and d.shape == (n, c)
    assert loss == pytest.approx(loss_ref, rel=1e-5 if dtype == np.float32 else 1e-12)
    assert_allclose(d, d_ref, dtype, atol=1e-7 if dtype == np.float32 else 1e-15)


def test_softmax_cross_entropy_formula(tier):
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 0])
    p0 = np.exp(logits[0]) / np.exp(logits[0]).sum()
    expected = (-np.log(p0[2]) + np.log(3.0)) / 2
    loss, d = tier.softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(expected, rel=1e-12)
    onehot = np.eye(3)[labels]
    p = np.vstack([p0, np.full(3, 1 / 3)])
    assert_allclose(d, (p - onehot) / 2)


def test_softmax_cross_entropy_accepts_any_integer_labels(tier, rng):
    logits = rng.standard_normal((4, 3))
    ref = tier.softmax_cross_entropy(logits, np.array([0, 1, 2, 1]))[0]
    for dt in (np.uint8, np.int16, np.int32, np.int64):
        assert tier.softmax_cross_entropy(logits, np.array([0, 1, 2, 1], dt))[0] == ref


def test_softmax_cross_entropy_bad_input(tier):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"out of range \[0, 3\), got 3"):
        tier.softmax_cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="out of range"):
        tier.softmax_cross_entropy(x, np.array([-1, 0]))
    with pytest.raises(TypeError, match="integer class indices"):
        tier.softmax_cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="batch size mismatch, expected 2 labels"):
        tier.softmax_cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="batch is empty"):
        tier.softmax_cross_entropy(np.zeros((0, 3), np.float32), np.array([], np.int64))
    with pytest.raises(ValueError, match="2-D"):
        tier.softmax_cross_entropy(np.zeros(3, np.float32), np.array([0]))
    with pytest.raises(TypeError, match="float32 or float64"):
        tier.softmax_cross_entropy(np.zeros((2, 3), np.int32), np.array([0, 1]))


def test_kernels_do_not_mutate_inputs(tier, rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    labels = rng.integers(0, 6, 4)
    keep_x, keep_l = x.copy(), labels.copy()
    tier.softmax(x)
    tier.log_softmax(x)
    tier.softmax_cross_entropy(x, labels)
    y, mask = tier.relu_forward(x)
    dy = x.copy()
    tier.relu_backward(dy, mask)
    tier.gemm(x, x, trans_b=True)
    np.testing.assert_array_equal(x, keep_x)
    np.testing.assert_array_equal(labels, keep_l)
    np.testing.assert_array_equal(dy, keep_x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_fortran_and_strided_rows_give_same_answer(tier, rng, name):
    x = rng.standard_normal((6, 9))
    f = getattr(tier, name)
    ref = f(np.ascontiguousarray(x))
    assert_allclose(f(np.asfortranarray(x)), ref)
    big = np.zeros((12, 18))
    big[::2, ::2] = x
    assert_allclose(f(big[::2, ::2]), ref)


# ---- tiers agree on larger shapes; thread-count invariance -------------------------------
@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_cython_matches_vectorized_on_larger_shapes(rng, dtype):
    V, C = get_backend("vectorized"), get_backend("cython")
    x = (rng.standard_normal((300, 1001)) * 5).astype(dtype)
    labels = rng.integers(0, 1001, 300)
    assert_allclose(C.softmax(x), V.softmax(x), dtype, atol=1e-7 if dtype == np.float32 else 1e-15)
    assert_allclose(C.log_softmax(x), V.log_softmax(x), dtype, atol=1e-5 if dtype == np.float32 else 1e-12)
    (lc, dc), (lv, dv) = C.softmax_cross_entropy(x, labels), V.softmax_cross_entropy(x, labels)
    assert lc == pytest.approx(lv, rel=1e-6 if dtype == np.float32 else 1e-12)
    assert_allclose(dc, dv, dtype, atol=1e-9 if dtype == np.float32 else 1e-17)


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_results_do_not_depend_on_thread_count(rng):
    C = get_backend("cython")
    x = rng.standard_normal((512, 1000)).astype(np.float32)
    labels = rng.integers(0, 1000, 512)
    big = rng.standard_normal(1 << 20).astype(np.float32)
    out = {}
    for n in (1, 2, 3):
        out[n] = (C.softmax_cross_entropy(x, labels, n_threads=n), C.softmax(x, n_threads=n),
                  C.log_softmax(x, n_threads=n), C.relu_forward(big, n_threads=n))
    for n in (2, 3):
        assert out[n][0][0] == out[1][0][0]  # loss: bit-identical (fixed summation order)
        np.testing.assert_array_equal(out[n][0][1], out[1][0][1])
        np.testing.assert_array_equal(out[n][1], out[1][1])
        np.testing.assert_array_equal(out[n][2], out[1][2])
        np.testing.assert_array_equal(out[n][3][0], out[1][3][0])
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 100)).astype(np.float32)
    ref = C.gemm(a, b, n_threads=1)
    nnx.set_num_threads(2)
    assert_allclose(C.gemm(a, b), ref, np.float32, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_thread_counts_validated(bad):
    with pytest.raises((TypeError, ValueError), match="n_threads"):
        nnx._config.resolve_threads(bad)
    with pytest.raises((TypeError, ValueError), match="n: expected a positive integer"):
        nnx.set_num_threads(bad)
    if "cython" in TIERS:
        with pytest.raises((TypeError, ValueError), match="n_threads"):
            get_backend("cython").softmax(np.ones((2, 2)), n_threads=bad)


# ---- sgd_update --------------------------------------------------------------------------
@pytest.mark.parametrize("momentum,nesterov,wd,damp", [(0.0, False, 0.0, 0.0), (0.9, False, 0.0, 0.0),
                                                       (0.9, True, 1e-2, 0.0), (0.5, False, 0.1, 0.3)])
def test_sgd_update_tiers_agree(dtype, rng, momentum, nesterov, wd, damp):
    shape = (7, 5)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    results = {}
    for name in TIERS:
        k = get_backend(name)
        p, buf = p0.copy(), np.zeros_like(p0) if momentum else None
        for i, g in enumerate(grads):
            k.sgd_update(p, g, buf, 0.1, momentum, damp, wd, nesterov, i == 0)
        results[name] = p
    for name in TIERS:
        assert_allclose(results[name], results["loops"], dtype, atol=1e-6 if dtype == np.float32 else 1e-14)


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="backend"):
        get_backend("fortran")
    with pytest.raises(ValueError, match="backend"):
        nnx.set_backend("numpy")
