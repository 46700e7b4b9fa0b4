"""Dropout, BatchNorm1d/2d and Maxout."""
import numpy as np
import pytest

import nnx


# ---- Dropout -------------------------------------------------------------------------------
def test_dropout_statistics_scale_and_eval_identity(rng):
    d = nnx.Dropout(0.3, rng=0)
    x = np.ones((200, 500), np.float32)
    y = d(x)
    zero = (y == 0).mean()
    assert abs(zero - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    g = d.backward(np.full_like(x, 2.0))
    np.testing.assert_allclose(g, 2.0 * (y != 0) / 0.7, rtol=1e-6)  # same mask as forward
    d.eval()
    z = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(d(z), z)


def test_dropout_is_reproducible_from_its_seed():
    x = np.ones((50, 50))
    a, b = nnx.Dropout(0.5, rng=7)(x), nnx.Dropout(0.5, rng=7)(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nnx.Dropout(0.5, rng=8)(x))


def test_dropout_gradcheck_with_fixed_mask(rng):
    d = nnx.Dropout(0.4, rng=1)
    d.reuse_mask = True
    assert nnx.gradcheck(d, rng.standard_normal((4, 6)))


def test_dropout_edges_and_validation():
    x = np.ones((4, 4))
    np.testing.assert_array_equal(nnx.Dropout(1.0, rng=0)(x), 0)
    np.testing.assert_array_equal(nnx.Dropout(0.0)(x), x)
    with pytest.raises(ValueError, match="p"):
        nnx.Dropout(1.5)
    with pytest.raises(RuntimeError, match="Dropout.backward"):
        nnx.Dropout(0.5).backward(x)


# ---- BatchNorm -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls,shape", [(nnx.BatchNorm1d, (8, 4)), (nnx.BatchNorm1d, (5, 4, 3)),
                                       (nnx.BatchNorm2d, (3, 4, 5, 2))])
def test_gradcheck_batchnorm(rng, cls, shape):
    assert nnx.gradcheck(cls(4), rng.standard_normal(shape))
    assert nnx.gradcheck(cls(4, affine=False), rng.standard_normal(shape))


@pytest.mark.parametrize("dim", [1, 2])
def test_batchnorm_matches_torch_train_and_eval(rng, dim):
    torch = pytest.importorskip("torch")
    shape = (6, 3) if dim == 1 else (4, 3, 5, 2)
    ours = (nnx.BatchNorm1d if dim == 1 else nnx.BatchNorm2d)(3, momentum=0.2, dtype=np.float64)
    theirs = getattr(torch.nn, f"BatchNorm{dim}d")(3, momentum=0.2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(rng.standard_normal(3)))
        theirs.bias.copy_(torch.from_numpy(rng.standard_normal(3)))
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    for _ in range(3):  # several steps: running statistics accumulate
        x = rng.standard_normal(shape) * 2 + 1
        dy = rng.standard_normal(shape)
        xt = torch.from_numpy(x).requires_grad_()
        yt = theirs(xt)
        yt.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_batchnorm_state_dict_has_running_statistics():
    bn = nnx.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    bn(np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32))
    other = nnx.BatchNorm2d(3)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_mean, bn.running_mean)
    assert int(other.num_batches_tracked) == 1


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match="num_features"):
        nnx.BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        nnx.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match="C=3"):
        nnx.BatchNorm2d(3)(np.zeros((2, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        nnx.BatchNorm2d(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nnx.BatchNorm1d(3)(np.zeros((1, 3), np.float32))


# ---- Maxout --------------------------------------------------------------------------------
def test_maxout_forward_gradcheck_and_validation(rng):
    m = nnx.Maxout(5, 3, 4, rng=0, dtype=np.float64)
    x = rng.standard_normal((6, 5))
    z = (x @ m.weight.data.T + m.bias.data).reshape(6, 3, 4)
    np.testing.assert_allclose(m(x), z.max(axis=2), rtol=1e-12)
    assert nnx.gradcheck(m, x)
    with pytest.raises(ValueError, match="pieces"):
        nnx.Maxout(5, 3, 0)
    with pytest.raises(ValueError, match=r"expected input \(N, 5\)"):
        m(rng.standard_normal((2, 4)))


# ---- batchnorm kernels in three tiers -------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5)])
def test_batchnorm_kernels_match_loops(tier, dtype, rng, shape):
    from nnx.kernels import get_backend
    loops = get_backend("loops")
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    g, b = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    got, ref = tier.batchnorm_forward(x, g, b, 1e-5), loops.batchnorm_forward(x, g, b, 1e-5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, r, **tol)
    dy = rng.standard_normal(shape).astype(dtype)
    for a, r in zip(tier.batchnorm_backward(dy, ref[1], ref[4], g), loops.batchnorm_backward(dy, ref[1], ref[4], g),
                    strict=True):
        np.testing.assert_allclose(a, r, **tol)


@pytest.mark.parametrize("shape", [(7, 130), (4, 70, 13), (3, 5, 8, 8)])
def test_batchnorm_compiled_paths_match_loops_and_thread_counts(dtype, rng, shape):
    """The compiled tier's two layouts: (N, C) in blocks of 64 channels (130: a partial third
    block) and spatial sums in 8 double lanes (13: a remainder per row), against the loops tier
    and bitwise across thread counts, forward and backward."""
    from nnx.kernels import compiled_available, get_backend
    if not compiled_available():
        pytest.skip("compiled tier not built")
    C, L = get_backend("cython"), get_backend("loops")
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    g, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    got = [C.batchnorm_forward(x, g, b, 1e-5, n_threads=t) for t in (1, 2, 3)]
    back = [C.batchnorm_backward(dy, got[0][1], got[0][4], g, n_threads=t) for t in (1, 2, 3)]
    for r in got[1:]:
        for a, e in zip(r, got[0], strict=True):
            np.testing.assert_array_equal(a, e)
    for r in back[1:]:
        for a, e in zip(r, back[0], strict=True):
            np.testing.assert_array_equal(a, e)
    for a, e in zip(got[0], L.batchnorm_forward(x, g, b, 1e-5), strict=True):
        np.testing.assert_allclose(a, e, **tol)
    for a, e in zip(back[0], L.batchnorm_backward(dy, got[0][1], got[0][4], g), strict=True):
        np.testing.assert_allclose(a, e, **tol)


def test_batchnorm_layer_gradcheck_per_backend(backend, rng):
    assert nnx.gradcheck(nnx.BatchNorm2d(3), rng.standard_normal((3, 3, 2, 2)))


def test_batchnorm_kernel_thread_invariance_and_bad_input(rng):
    from nnx.kernels import compiled_available, get_backend
    if compiled_available():
        C = get_backend("cython")
        x = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
        g, b = np.ones(16, np.float32), np.zeros(16, np.float32)
        for a, r in zip(C.batchnorm_forward(x, g, b, n_threads=1), C.batchnorm_forward(x, g, b, n_threads=2),
                        strict=True):
            np.testing.assert_array_equal(a, r)
    V = get_backend("vectorized")
    with pytest.raises(ValueError, match=r"gamma: expected shape \(3,\)"):
        V.batchnorm_forward(np.zeros((4, 3)), np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        V.batchnorm_forward(np.zeros((1, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="eps"):
        V.batchnorm_forward(np.zeros((4, 3)), np.ones(3), np.zeros(3), 0.0)


def test_batchnorm_gradcheck_in_eval_mode_with_running_statistics(rng):
    bn = nnx.BatchNorm1d(4, dtype=np.float64)
    bn(rng.standard_normal((16, 4)) * 3 + 2)  # give the running statistics non-trivial values
    bn.weight.data[...] = rng.standard_normal(4)
    assert nnx.gradcheck(bn, rng.standard_normal((5, 4)), mode="eval")
    assert nnx.gradcheck(nnx.BatchNorm2d(2), rng.standard_normal((2, 2, 3, 3)), mode="eval")
    with pytest.raises(ValueError, match="mode"):
        nnx.gradcheck(bn, rng.standard_normal((5, 4)), mode="test")


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 6), (3, 4, 5, 6)])
def test_batchnorm_apply_is_the_same_in_every_tier(shape, rng):
    """Eval-mode batch norm (given statistics) through the kernel tiers: y = (x - mean) invstd
    gamma + beta per channel; the compiled tier's two threads give the bits of one."""
    from helpers import TIERS

    from nnx.kernels import get_backend
    x = rng.standard_normal(shape)
    c = shape[1]
    mean, invstd, gamma, beta = rng.standard_normal(c), rng.uniform(0.5, 2, c), rng.standard_normal(c), \
        rng.standard_normal(c)
    b = (1, c) + (1,) * (len(shape) - 2)
    xhat_want = (x - mean.reshape(b)) * invstd.reshape(b)
    for name in TIERS:
        y, xhat = get_backend(name).batchnorm_apply(x, mean, invstd, gamma, beta)
        np.testing.assert_allclose(xhat, xhat_want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(y, xhat_want * gamma.reshape(b) + beta.reshape(b), rtol=1e-12, atol=1e-12)
    if "cython" in TIERS:
        c_tier = get_backend("cython")
        big = rng.standard_normal((64, c, 40, 40)).astype(np.float32)
        args = [a.astype(np.float32) for a in (mean, invstd, gamma, beta)]
        one = c_tier.batchnorm_apply(big, *args, n_threads=1)
        two = c_tier.batchnorm_apply(big, *args, n_threads=2)
        np.testing.assert_array_equal(one[0], two[0])
    with pytest.raises(ValueError, match="batchnorm_apply: invstd: expected shape"):
        get_backend("vectorized").batchnorm_apply(x, mean, invstd[:-1], gamma, beta)
