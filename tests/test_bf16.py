"""bf16 mixed precision: the rounding, bf16 GEMM and convolution in every tier, nnx.autocast, the
layers under it, fit(precision="bf16") and the CLI; against float64 references on bf16-rounded
inputs, against ml_dtypes' bfloat16 and against torch.autocast when they are installed."""
import threading
import warnings

import numpy as np
import pytest
from helpers import FAST_TIERS, TIERS

import nnx
from nnx import precision
from nnx.kernels import get_backend

U = np.uint32
EPS32 = 2.0 ** -24  # float32 unit roundoff
EPS16 = 2.0 ** -8   # bfloat16 unit roundoff (8 significand bits)


@pytest.fixture(autouse=True)
def _quiet():
    """The once-per-process 'runs emulated' warning is tested on its own."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "nnx.autocast: bf16 runs emulated", RuntimeWarning)
        yield


def _bits(*values):
    return np.array(values, U).view(np.float32)


SPECIAL = _bits(
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000,   # +-0, +-inf
    0x7FC00000, 0xFFC00001, 0x7F800001, 0xFF812345,   # quiet and signalling NaNs, both signs
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF,   # the largest floats: round to inf or not
    0x00000001, 0x00008000, 0x00018000, 0x807FFFFF,   # subnormals, ties
    0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF,   # 1 + half an ulp: ties to even, just above/below
    0x3FFFFFFF, 0x4B7FFFFF,                           # carries into the exponent
)


def _reference_round(x):
    """Round to nearest even by the definition: the nearer of the two bf16 neighbours (the even
    one on a tie), in exact integer arithmetic on the bits; NaN quieted."""
    out = []
    for u in x.view(U).tolist():
        if u & 0x7FFFFFFF > 0x7F800000:
            out.append((u | 0x400000) & 0xFFFF0000)
            continue
        low, rest = u & 0xFFFF0000, u & 0xFFFF
        up = (low + 0x10000) & 0xFFFFFFFF
        if rest > 0x8000 or (rest == 0x8000 and (low >> 16) & 1):
            out.append(up)
        else:
            out.append(low)
    return np.array(out, U).view(np.float32)


@pytest.mark.parametrize("name", TIERS)
def test_round_bf16_is_round_to_nearest_even_bit_for_bit(name, rng):
    t = get_backend(name)
    with np.errstate(over="ignore"):  # the largest scales overflow to inf, on purpose
        wide = (rng.standard_normal(300) * 10.0 ** rng.integers(-45, 39, 300)).astype(np.float32)
    x = np.concatenate([SPECIAL, wide, rng.integers(0, 2 ** 32, 300, dtype=np.uint64).astype(U).view(np.float32)])
    y = t.round_bf16(x.reshape(2, -1, 1))
    assert y.shape == (2, x.size // 2, 1) and y.dtype == np.float32
    np.testing.assert_array_equal(y.reshape(-1).view(U), _reference_round(x).view(U))
    assert np.all(y.view(U) & 0xFFFF == 0)
    assert np.isnan(y.reshape(-1)[4:8]).all() and np.isinf(y.reshape(-1)[8:10]).all()


def test_round_bf16_matches_ml_dtypes(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.concatenate([SPECIAL, rng.integers(0, 2 ** 32, 20000, dtype=np.uint64).astype(U).view(np.float32)])
    with np.errstate(invalid="ignore"):  # the NaNs among the random bit patterns
        ref = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    for name in FAST_TIERS:
        y = get_backend(name).round_bf16(x)
        finite = ~np.isnan(x)
        np.testing.assert_array_equal(y[finite].view(U), ref[finite].view(U))
        assert np.isnan(y[~finite]).all()


@pytest.mark.parametrize("name", TIERS)
def test_round_bf16_refuses_what_is_not_float32(name):
    t = get_backend(name)
    with pytest.raises(TypeError, match="round_bf16: x: expected float32"):
        t.round_bf16(np.ones(3))
    with pytest.raises(TypeError, match="round_bf16: x"):
        t.round_bf16(np.ones(3, np.int32))


def _gemm_case(rng, m, n, k, scale=1.0):
    a = (rng.standard_normal((m, k)) * scale).astype(np.float32)
    b = (rng.standard_normal((k, n)) * scale).astype(np.float32)
    return a, b


@pytest.mark.parametrize("name", TIERS)
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_bf16_gemm_is_float32_sums_of_exact_bf16_products(name, trans_a, trans_b, rng):
    t = get_backend(name)
    m, n, k = (7, 5, 19) if name == "loops" else (67, 45, 300)
    a, b = _gemm_case(rng, m, n, k)
    ar, br = (get_backend("vectorized").round_bf16(v).astype(np.float64) for v in (a, b))
    exact = ar @ br                         # the products of bf16 values, summed exactly enough
    bound = k * EPS32 * (np.abs(ar) @ np.abs(br)) * 2  # float32 summation of k terms
    A = np.ascontiguousarray(a.T) if trans_a else a
    B = np.ascontiguousarray(b.T) if trans_b else b
    c = t.gemm(A, B, trans_a, trans_b, bf16=True)
    assert c.dtype == np.float32
    assert np.all(np.abs(c - exact) <= bound)
    # and against the unrounded product: within the bf16 rounding of both operands (K x 2^-8)
    true = a.astype(np.float64) @ b.astype(np.float64)
    assert np.all(np.abs(c - true) <= (2 * EPS16 + k * EPS32 * 2) * (np.abs(a) @ np.abs(b)).astype(np.float64))
    # and bf16 is not a no-op: the float32 GEMM differs
    assert not np.array_equal(c, t.gemm(A, B, trans_a, trans_b))


@pytest.mark.parametrize("name", FAST_TIERS)
def test_bf16_gemm_epilogue_and_accumulation(name, rng):
    t = get_backend(name)
    a, b = _gemm_case(rng, 40, 33, 70)
    bias = rng.standard_normal(33).astype(np.float32)
    out = rng.standard_normal((40, 33)).astype(np.float32)
    v = get_backend("vectorized")
    base = v.round_bf16(a).astype(np.float64) @ v.round_bf16(b).astype(np.float64)
    got = t.gemm(a, b, out=out.copy(), beta=0.5, bias=bias, relu=True, bf16=True)
    want = np.maximum(base + 0.5 * out + bias, 0)  # beta C and the bias in float32, never rounded
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
@pytest.mark.parametrize("shape", [(1, 300, 200), (200, 300, 1), (130, 784, 512), (5, 3, 2)])
def test_compiled_bf16_gemm_matches_vectorized_and_is_thread_count_independent(shape, rng):
    c, v = get_backend("cython"), get_backend("vectorized")
    m, k, n = shape
    a, b = _gemm_case(rng, m, n, k)
    one = c.gemm(a, b, bf16=True, n_threads=1)
    two = c.gemm(a, b, bf16=True, n_threads=2)
    np.testing.assert_array_equal(one, two)  # bitwise, as float32 is
    np.testing.assert_allclose(one, v.gemm(a, b, bf16=True), rtol=2e-5, atol=k * EPS32 * 10)


@pytest.mark.parametrize("name", TIERS)
def test_bf16_flag_is_checked_at_the_boundary(name):
    t = get_backend(name)
    a64 = np.ones((2, 2))
    with pytest.raises(TypeError, match="gemm: bf16=True needs float32"):
        t.gemm(a64, a64, bf16=True)
    with pytest.raises(TypeError, match="gemm: bf16: expected a bool"):
        t.gemm(a64.astype(np.float32), a64.astype(np.float32), bf16=1)
    x = np.ones((1, 1, 3, 3))
    with pytest.raises(TypeError, match="conv2d_forward: bf16=True needs float32"):
        t.conv2d_forward(x, np.ones((1, 1, 2, 2)), None, 1, 0, bf16=True)
    np.testing.assert_array_equal(t.gemm(a64, a64, bf16=False), a64 @ a64)  # float64 without bf16 is fine


def _conv_reference(x, w, b, stride, pad, dy):
    """float64 convolution, its dx and dw, by the loops tier on float64 copies."""
    L = get_backend("loops")
    y, cache = L.conv2d_forward(x.astype(np.float64), w.astype(np.float64), None if b is None else
                                b.astype(np.float64), stride, pad)
    dx, dw, _ = L.conv2d_backward(dy.astype(np.float64), cache)
    return y, dx, dw


@pytest.mark.parametrize("name", TIERS)
@pytest.mark.parametrize("stride, pad", [(1, 0), (1, 2), (2, 1)])
def test_bf16_conv_forward_and_backward_on_rounded_operands(name, stride, pad, rng):
    t, r = get_backend(name), get_backend("vectorized").round_bf16
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y, cache = t.conv2d_forward(x, w, b, stride, pad, bf16=True)
    assert cache.bf16 and y.dtype == np.float32
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = t.conv2d_backward(dy, cache)
    ry, rdx, rdw = _conv_reference(r(x), r(w), b, stride, pad, r(dy))
    k = 3 * 3 * 3  # terms per output; dx and dw sum fewer than N*OH*OW*OC = 2*7*6*4 terms
    np.testing.assert_allclose(y, ry, rtol=0, atol=k * EPS32 * 4 * np.abs(ry).max())
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=4 * 36 * EPS32 * 4 * np.abs(rdx).max())
    np.testing.assert_allclose(dw, rdw, rtol=0, atol=336 * EPS32 * 4 * np.abs(rdw).max())
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-5)  # the bias gradient from dy itself
    y32, _ = t.conv2d_forward(x, w, b, stride, pad)
    assert not np.array_equal(y, y32)


@pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
def test_compiled_bf16_conv_is_thread_count_independent(rng):
    c = get_backend("cython")
    x = rng.standard_normal((16, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    outs = []
    for nt in (1, 2):
        y, cache = c.conv2d_forward(x, w, None, 1, 0, bf16=True, n_threads=nt)
        outs.append((y, *c.conv2d_backward(np.ones_like(y), cache, n_threads=nt)[:2]))
    for one, two in zip(*outs, strict=True):
        np.testing.assert_array_equal(one, two)


# -- nnx.autocast ------------------------------------------------------------------------------
def test_autocast_is_a_per_thread_nestable_context():
    assert not nnx.precision.autocast_enabled()
    with nnx.autocast("bfloat16"):
        assert nnx.precision.autocast_enabled()
        with nnx.autocast("bfloat16", enabled=False):
            assert not nnx.precision.autocast_enabled()
        assert nnx.precision.autocast_enabled()
        seen = []
        th = threading.Thread(target=lambda: seen.append(nnx.precision.autocast_enabled()))
        th.start()
        th.join()
        assert seen == [False]  # another thread is not autocast, as in torch
    assert not nnx.precision.autocast_enabled()
    with pytest.raises(RuntimeError), nnx.autocast("bf16"):
        raise RuntimeError
    assert not nnx.precision.autocast_enabled()


@pytest.mark.parametrize("bad", ["float16", "half", None, np.float32])
def test_autocast_refuses_other_dtypes(bad):
    with pytest.raises(ValueError, match="autocast: dtype: expected one of bfloat16, bf16"), nnx.autocast(bad):
        pass


@pytest.mark.parametrize("name, on", [("bf16", True), ("bfloat16", True), ("fp32", False), ("float32", False)])
def test_every_precision_name_is_taken_everywhere(name, on):
    # fit, autocast, the estimators and the CLI take the same four names
    with nnx.autocast(name):
        assert nnx.precision.autocast_enabled() == on
    with nnx.autocast("bf16"), nnx.autocast(name):  # float32 inside an enclosing autocast, as enabled=False
        assert nnx.precision.autocast_enabled() == on
    assert nnx.precision.check_precision(name, "fit") == ("bf16" if on else "fp32")
    from nnx.sklearn import NNXClassifier
    X, y, _, _ = nnx.datasets.load_digits()
    clf = NNXClassifier(hidden_layer_sizes=(8,), max_iter=1, precision=name, random_state=0)
    clf.fit(X[:64].reshape(64, -1), y[:64])


def test_autocast_warns_once_that_it_runs_emulated(monkeypatch):
    monkeypatch.setattr(precision, "_warned", [])
    monkeypatch.setenv("NNX_BF16_PATH", "emulated")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with nnx.autocast("bfloat16"):
            pass
        with nnx.autocast("bfloat16"):
            pass
    msgs = [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "runs emulated" in msgs[0] and "NNX_BF16_PATH=emulated forces it" in msgs[0]
    assert seen[0].filename == __file__  # points at the `with` line


def test_a_native_path_does_not_warn(monkeypatch):
    monkeypatch.setattr(precision, "_warned", [])
    monkeypatch.setenv("NNX_BF16_PATH", "avx512_bf16-portable")  # any path but the emulated one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nnx.autocast("bfloat16"):
            pass
    assert precision._warned == []


def test_bf16_path_can_be_forced_and_a_bad_value_is_named(monkeypatch):
    for name in nnx.precision.bf16_paths():
        monkeypatch.setenv("NNX_BF16_PATH", name)
        assert nnx.precision.bf16_path() == name
    monkeypatch.setenv("NNX_BF16_PATH", "fp8")
    with pytest.raises(ValueError, match="NNX_BF16_PATH: expected auto or one of emulated, avx512_bf16"), \
            nnx.autocast("bfloat16"):
        pass
    lacking = [p for p in ("avx512_bf16", "amx") if p not in nnx.precision.bf16_paths()]
    for name in lacking:  # a native path above the CPU level in force
        monkeypatch.setenv("NNX_BF16_PATH", name)
        with pytest.raises(ValueError, match=f"NNX_BF16_PATH={name}: this process runs at CPU level"):
            nnx.precision.bf16_path()
    monkeypatch.setenv("NNX_BF16_PATH", "auto")
    best = next((p for p in ("amx", "avx512_bf16") if p in nnx.precision.bf16_paths()), "emulated")
    info = nnx._info.config_info()
    assert info["bf16"] == best and set(info["cpu_bf16"]) == {"avx512_bf16", "amx_bf16"}


def test_the_paths_follow_the_cpu_level():
    paths, level = nnx.precision.bf16_paths(), nnx.cpu_level()
    assert paths[0] == "emulated"
    assert ("avx512_bf16" in paths) == (level in ("avx512_bf16", "amx"))
    assert ("amx" in paths) == (level == "amx")
    if "cython" in TIERS:
        assert {"avx512_bf16-portable", "amx-portable"} <= set(paths)  # the portable ones run anywhere


def test_show_config_says_which_bf16_path_runs(capsys):
    nnx.show_config()
    assert f"bf16 (autocast)   : {nnx.precision.bf16_path()}" in capsys.readouterr().out


def _linear_reference(x, w, b, dy):
    r = get_backend("vectorized").round_bf16
    x64, w64, dy64 = (r(v).astype(np.float64) for v in (x, w, dy))
    return x64 @ w64.T + b, dy64 @ w64, dy64.T @ x64


def test_linear_under_autocast_rounds_every_gemm_operand_and_backward_follows_the_forward(backend, rng):
    n = 3 if backend == "loops" else 32
    lin = nnx.Linear(20, 6, rng=0)
    x = rng.standard_normal((n, 20)).astype(np.float32)
    dy = rng.standard_normal((n, 6)).astype(np.float32)
    with nnx.autocast("bfloat16"):
        y = lin.forward(x)
    dx = lin.backward(dy)  # outside the context: the forward's precision still applies
    ry, rdx, rdw = _linear_reference(x, lin.weight.data, lin.bias.data, dy)
    tol = dict(rtol=0, atol=64 * EPS32 * 8)
    np.testing.assert_allclose(y, ry, **tol)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(lin.weight.grad, rdw, rtol=0, atol=n * EPS32 * 8 * np.abs(rdw).max())
    np.testing.assert_allclose(lin.bias.grad, dy.sum(axis=0), rtol=1e-5)
    assert y.dtype == dx.dtype == lin.weight.grad.dtype == np.float32


def test_float64_layers_are_never_autocast(rng):
    lin = nnx.Linear(5, 3, dtype=np.float64, rng=0)
    x = rng.standard_normal((4, 5))
    y = lin.forward(x)
    with nnx.autocast("bfloat16"):
        np.testing.assert_array_equal(lin.forward(x), y)


def test_maxout_and_conv_layers_under_autocast(rng):
    r = get_backend("vectorized").round_bf16
    mo = nnx.Maxout(8, 3, 2, rng=0)
    x = rng.standard_normal((5, 8)).astype(np.float32)
    with nnx.autocast("bfloat16"):
        y = mo.forward(x)
    z = (r(x).astype(np.float64) @ r(mo.weight.data).astype(np.float64).T + mo.bias.data).reshape(5, 3, 2)
    np.testing.assert_allclose(y, z.max(axis=2), rtol=0, atol=1e-5)
    conv = nnx.Conv2d(2, 3, 3, padding=1, rng=0)
    xi = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    with nnx.autocast("bfloat16"):
        yc = conv.forward(xi)
    ry, _, _ = _conv_reference(r(xi), r(conv.weight.data), conv.bias.data, 1, 1, np.zeros((2, 3, 5, 5), np.float32))
    np.testing.assert_allclose(yc, ry, rtol=0, atol=1e-5)


def test_fit_in_bf16_learns_the_digits_like_fp32():
    X, y, Xt, yt = nnx.datasets.load_digits()
    acc = {}
    for prec in ("fp32", "bf16"):
        model = nnx.models.mlp(X.shape[1:], 10, hidden=(64,), rng=0)
        opt = nnx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        h = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=8, val_data=(Xt, yt), batch_size=32,
                    progress=False, seed=0, precision=prec)
        acc[prec] = h["val_accuracy"][-1]
        assert all(p.data.dtype == np.float32 for p in model.parameters())  # master weights stay float32
    assert acc["bf16"] > 0.93 and abs(acc["bf16"] - acc["fp32"]) <= 0.02, acc
    assert not nnx.precision.autocast_enabled()


def test_cli_trains_in_bf16(capsys):
    from nnx.cli import main
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "2", "--precision", "bf16",
                 "--no-progress", "--threads", "1"]) in (0, None)
    out = capsys.readouterr().out
    assert f"precision=bf16 ({nnx.precision.bf16_path()})" in out and "test accuracy" in out


# -- against torch.autocast --------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 1234])
def test_layers_match_torch_autocast(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 3, 12, 12)).astype(np.float32)
    model = nnx.Sequential(nnx.Conv2d(3, 8, 3, padding=1, rng=0), nnx.ReLU(), nnx.Flatten(),
                           nnx.Linear(8 * 12 * 12, 10, rng=1))
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                             torch.nn.Linear(8 * 12 * 12, 10))
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    labels = rng.integers(0, 10, 16)
    loss = nnx.SoftmaxCrossEntropy()
    with nnx.autocast("bfloat16"):
        out = model.forward(x)
        loss.forward(out, labels)
        model.backward(loss.backward())
    xt = torch.from_numpy(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tout = tm(xt)
    torch.nn.functional.cross_entropy(tout.float(), torch.from_numpy(labels)).backward()
    assert tout.dtype == torch.bfloat16
    # torch rounds its outputs (and the bias) to bf16 as well: a few bf16 ulps apart, no more
    np.testing.assert_allclose(out, tout.float().detach().numpy(), rtol=0, atol=4 * EPS16 * np.abs(out).max())
    # Gradients: torch's bf16 logits perturb the softmax gradient and its bf16 conv output moves
    # ReLU masks, differences that compound into the first layer's dW (measured up to 4% of its
    # largest entry, while the bf16 effect itself, bf16 vs fp32, is 5-8%): so a 10% band, plus
    # the check that matters: nnx's bf16 gradients are nearer torch's bf16 ones than fp32's are.
    fp32 = nnx.Sequential(nnx.Conv2d(3, 8, 3, padding=1, rng=0), nnx.ReLU(), nnx.Flatten(),
                          nnx.Linear(8 * 12 * 12, 10, rng=1))
    loss.forward(fp32.forward(x), labels)
    fp32.backward(loss.backward())
    for (name, p), tp in zip(model.named_parameters(), tm.parameters(), strict=True):
        g, tg = p.grad, tp.grad.numpy()
        np.testing.assert_allclose(g, tg, rtol=0, atol=0.1 * np.abs(tg).max(), err_msg=name)
    conv_w, torch_w, fp32_w = model[0].weight.grad, tm[0].weight.grad.numpy(), fp32[0].weight.grad
    assert np.linalg.norm(conv_w - torch_w) < 0.8 * np.linalg.norm(fp32_w - torch_w)


@pytest.mark.parametrize("name, same", [("float32", "fp32"), ("bfloat16", "bf16")])
def test_precision_names_are_accepted_alike(name, same):
    X, y, _, _ = nnx.datasets.load_digits()
    runs = []
    for prec in (name, same):
        model = nnx.models.mlp(X.shape[1:], 10, hidden=(16,), rng=0)
        opt = nnx.optim.SGD(model.parameters(), lr=0.05)
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:256], y[:256]), epochs=1, seed=0, progress=False,
                precision=prec)
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fit: precision: expected one of fp32, float32, bf16, bfloat16, got 'fp16'"):
        nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X[:8], y[:8]), precision="fp16", progress=False)


def test_cli_takes_both_precision_names(capsys):
    from nnx.cli import main
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--precision", "bfloat16",
                 "--no-progress", "--threads", "1"]) in (0, None)
    assert f"precision=bf16 ({nnx.precision.bf16_path()})" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--data", "digits", "--precision", "fp16"])
    assert "expected fp32, float32, bf16 or bfloat16, got 'fp16'" in capsys.readouterr().err
