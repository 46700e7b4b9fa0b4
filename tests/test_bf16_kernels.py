"""The bf16 instructions and the kernels written on them (nnx_bf16ops.h, nnx_gemm_bf16.h).

Three layers, each bit for bit:
1. the instructions: the portable C definition of vdpbf16ps and tdpbf16ps against the reference
   tier's arithmetic (vectorized._bf16_fma / _bf16_add) on random, denormal-heavy and special
   inputs; and against the CPU's own instruction where it has it (else: skipped, saying so);
2. the GEMMs of every bf16 path (native where the level has it, portable everywhere) against the
   loops and vectorized tiers given the same path name: all transposes, beta, bias, ReLU, edges,
   K across slices; native against portable; 1, 2 and 3 threads;
3. the convolutions (forward bitwise; dx and dW, summed in another order, within float32
   rounding) and the layers under autocast with NNX_BF16_PATH set to each path.
"""
import numpy as np
import pytest
from helpers import TIERS

import nnx
from nnx.kernels import get_backend

pytestmark = pytest.mark.skipif("cython" not in TIERS, reason="compiled tier not built")
U = np.uint32
F = np.float32


def _paths():
    return [p for p in nnx.precision.bf16_paths() if p != "emulated"]


def _bits(x):
    return np.ascontiguousarray(x, F).view(U)


def _same_bits(got, want):
    """Bitwise equality, NaNs included (their payloads too)."""
    np.testing.assert_array_equal(_bits(got), _bits(want))


def _random_words(rng, n, kind):
    """n 32-bit words of two bf16 each: ordinary values, denormal-heavy ones, or any bits at all."""
    if kind == "raw":
        return rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(U)
    lo, hi = (-30, 30) if kind == "normal" else (-140, -60)
    vals = (rng.uniform(-1, 1, 2 * n) * 2.0 ** rng.integers(lo, hi, 2 * n)).astype(F)
    half = (vals.view(U) >> 16).astype(U)
    return half[0::2] | (half[1::2] << 16)


def _random_acc(rng, n, kind):
    if kind == "raw":
        return rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(U).view(F)
    lo, hi = (-20, 20) if kind == "normal" else (-150, -110)
    return (rng.uniform(-1, 1, n) * 2.0 ** rng.integers(lo, hi, n)).astype(F)


SPECIAL = np.array([0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0xFFC2, 0x7F81, 0x0001, 0x807F, 0x0080, 0x7F7F,
                    0x3F80, 0xBF80, 0x4000, 0x0040, 0x8001], U)


def _special_words(rng, n):
    """Pairs of special bf16 values: zeros, infinities, NaNs (quiet and signalling), denormals,
    the largest and smallest normals."""
    return rng.choice(SPECIAL, n) | (rng.choice(SPECIAL, n) << 16)


def _halves(words):
    return (words << 16).view(F), (words & U(0xFFFF0000)).view(F)


def _reference_dpbf16(acc, a, b):
    v = get_backend("vectorized")
    (a0, a1), (b0, b1) = _halves(a), _halves(b)
    return v._bf16_fma(a0, b0, v._bf16_fma(a1, b1, acc))


def _inputs(rng, rows, kind):
    if kind == "special":
        return (_random_acc(rng, rows * 16, "raw").reshape(rows, 16), _special_words(rng, rows * 16).reshape(rows, 16),
                _special_words(rng, rows * 16).reshape(rows, 16))
    return (_random_acc(rng, rows * 16, kind).reshape(rows, 16), _random_words(rng, rows * 16, kind).reshape(rows, 16),
            _random_words(rng, rows * 16, kind).reshape(rows, 16))


def _dpbf16(acc, a, b, native):
    from nnx.kernels.compiled import _bf16
    out = np.empty_like(acc)
    _bf16.dpbf16ps(acc, a, b, out, native)
    return out


@pytest.mark.parametrize("kind", ["normal", "denormal", "raw", "special"])
def test_portable_vdpbf16ps_is_the_reference_arithmetic(kind, rng):
    acc, a, b = _inputs(rng, 4000, kind)
    _same_bits(_dpbf16(acc, a, b, native=False), _reference_dpbf16(acc, a, b))


@pytest.mark.parametrize("kind", ["normal", "denormal", "raw", "special"])
def test_native_vdpbf16ps_is_bit_identical_to_the_portable_definition(kind, rng):
    if "avx512_bf16" not in nnx.precision.bf16_paths():
        pytest.skip(f"this process runs at {nnx.cpu_level()}: no vdpbf16ps to compare with (the portable "
                    "definition is tested against the reference above)")
    acc, a, b = _inputs(rng, 50000, kind)  # 800k lanes of each kind
    _same_bits(_dpbf16(acc, a, b, native=True), _dpbf16(acc, a, b, native=False))


def test_the_lane_rules_on_chosen_values():
    """The rules of nnx_bf16ops.h, one at a time: the odd pair first, DAZ, FTZ after rounding, the
    NaN of the first operand that has one."""
    def lane(acc, a0, a1, b0, b1):
        def words(lo, hi):
            half = lambda v: int(np.float32(v).view(U)) >> 16  # noqa: E731
            return np.full((1, 16), half(lo) | (half(hi) << 16), U)
        return _dpbf16(np.full((1, 16), acc, F), words(a0, a1), words(b0, b1), native=False)[0, 0]
    assert lane(0.0, 1.0, 2.0 ** -20, 1.0, 1.0) == F(1.0 + 2.0 ** -20)
    # odd pair first: 2^24 + 1 then - 2^24 gives 0 (1 lost), the other order would give 1
    assert lane(1.0, -(2.0 ** 24), 2.0 ** 24, 1.0, 1.0) == 0.0
    assert lane(2.0 ** -130, 0.0, 0.0, 0.0, 0.0) == 0.0             # a denormal acc reads as zero
    tiny = lane(0.0, 2.0 ** -70, 0.0, 2.0 ** -60, 0.0)              # 2^-130: tiny, flushed
    assert tiny == 0.0 and not np.signbit(tiny)
    assert np.signbit(lane(0.0, -(2.0 ** -70), 0.0, 2.0 ** -60, 0.0))  # a zero of the result's sign
    assert lane(0.0, 1.0 - 2.0 ** -8, 0.0, 2.0 ** -126, 0.0) == 0.0  # just below the normals: flushed
    nan_a = np.uint32(0x7FC10000).view(F)
    assert np.isnan(lane(1.0, nan_a, 1.0, 1.0, 1.0))


def _reference_tdpbf16ps(dst, a, b):
    v = get_backend("vectorized")
    a0, a1 = _halves(a)          # (16 rows, 16 pairs)
    b0, b1 = _halves(b)          # (16 pairs, 16 columns)
    e = o = np.zeros((16, 16), F)
    for k in range(16):
        e = v._bf16_fma(a0[:, k, None], b0[None, k], e)
        o = v._bf16_fma(a1[:, k, None], b1[None, k], o)
    return v._bf16_add(dst, v._bf16_add(e, o))


def _tile(dst, a, b, native):
    from nnx.kernels.compiled import _bf16
    out = dst.copy()
    _bf16.tdpbf16ps(out, a, b, native)
    return out


@pytest.mark.parametrize("kind", ["normal", "denormal", "raw", "special"])
def test_portable_tdpbf16ps_follows_intels_pseudocode(kind, rng):
    for _ in range(20):
        dst, a, b = (x.reshape(16, 16) for x in (_random_acc(rng, 256, "raw" if kind == "special" else kind),
                                                 *(_special_words(rng, 256) if kind == "special" else
                                                   _random_words(rng, 256, kind) for _ in range(2))))
        _same_bits(_tile(dst, a, b, native=False), _reference_tdpbf16ps(dst, a, b))


def test_native_tdpbf16ps_is_bit_identical_to_the_portable_definition(rng):
    if "amx" not in nnx.precision.bf16_paths():
        pytest.skip(f"this process runs at {nnx.cpu_level()}: no AMX to compare with (the portable tdpbf16ps "
                    "is tested against Intel's pseudocode above; run this on a CPU with AMX)")
    for kind in ("normal", "denormal", "raw"):
        for _ in range(200):
            dst, a, b = (_random_acc(rng, 256, kind).reshape(16, 16), _random_words(rng, 256, kind).reshape(16, 16),
                         _random_words(rng, 256, kind).reshape(16, 16))
            _same_bits(_tile(dst, a, b, native=True), _tile(dst, a, b, native=False))


# -- the GEMMs ---------------------------------------------------------------------------------
SHAPES = [(1, 1, 1), (5, 7, 3), (13, 33, 35), (40, 70, 33), (97, 130, 65), (12, 1030, 32), (200, 40, 1100)]


def _operands(rng, m, k, n, scale=1.0):
    a = (rng.standard_normal((m, k)) * scale).astype(F)
    b = (rng.standard_normal((k, n)) * scale).astype(F)
    return a, b, rng.standard_normal(n).astype(F), rng.standard_normal((m, n)).astype(F)


@pytest.mark.parametrize("path", _paths())
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bf16_gemm_is_its_path_arithmetic_bit_for_bit(path, shape, rng):
    c, v = get_backend("cython"), get_backend("vectorized")
    m, k, n = shape
    a, b, bias, out = _operands(rng, m, k, n)
    for ta, tb in [(False, False), (True, False), (False, True), (True, True)]:
        A = np.ascontiguousarray(a.T) if ta else a
        B = np.ascontiguousarray(b.T) if tb else b
        for beta, with_bias, relu in [(0.0, False, False), (1.0, True, False), (0.5, True, True)]:
            kw = dict(beta=beta, bias=bias if with_bias else None, relu=relu, bf16=path)
            got = c.gemm(A, B, ta, tb, out=out.copy(), **kw)
            _same_bits(got, v.gemm(A, B, ta, tb, out=out.copy(), **kw))


@pytest.mark.parametrize("path", _paths())
def test_loops_and_vectorized_agree_on_each_path(path, rng):
    lp, v = get_backend("loops"), get_backend("vectorized")
    for m, k, n in [(3, 5, 4), (2, 37, 3)]:
        a, b, bias, out = _operands(rng, m, k, n)
        kw = dict(out=out, beta=0.5, bias=bias, relu=True, bf16=path)
        _same_bits(lp.gemm(a, b, **{**kw, "out": out.copy()}), v.gemm(a, b, **{**kw, "out": out.copy()}))


@pytest.mark.parametrize("path", _paths())
def test_bf16_gemm_on_tiny_huge_and_special_values(path, rng):
    """DAZ and FTZ inside the sums, overflow to infinity, NaNs and infinities: the compiled kernel
    still gives its path's reference bits."""
    c, v = get_backend("cython"), get_backend("vectorized")
    for scale in (2.0 ** -70, 2.0 ** -60, 2.0 ** 60):
        a, b, _, _ = _operands(rng, 17, 45, 33, scale)
        _same_bits(c.gemm(a, b, bf16=path), v.gemm(a, b, bf16=path))
    a, b, _, _ = _operands(rng, 17, 45, 33)
    a.reshape(-1)[rng.integers(0, a.size, 20)] = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0] * 4, F)
    _same_bits(c.gemm(a, b, bf16=path), v.gemm(a, b, bf16=path))


@pytest.mark.parametrize("path", _paths())
def test_bf16_gemm_is_thread_count_independent(path, rng):
    c = get_backend("cython")
    a, b, bias, _ = _operands(rng, 150, 700, 90)
    one = c.gemm(a, b, bias=bias, relu=True, bf16=path, n_threads=1)
    for nt in (2, 3):
        _same_bits(c.gemm(a, b, bias=bias, relu=True, bf16=path, n_threads=nt), one)


@pytest.mark.parametrize("native", ["avx512_bf16", "amx"])
def test_native_gemm_is_bit_identical_to_its_portable_twin(native, rng):
    if native not in nnx.precision.bf16_paths():
        pytest.skip(f"this process runs at {nnx.cpu_level()}: no {native} kernel to run (its portable twin is "
                    "tested against the reference tiers)")
    c = get_backend("cython")
    for m, k, n in [(128, 784, 512), (33, 1100, 70), (1, 300, 200)]:
        a, b, bias, _ = _operands(rng, m, k, n)
        bt = np.ascontiguousarray(b.T)  # Linear's x W^T
        for B, tb in ((b, False), (bt, True)):
            _same_bits(c.gemm(a, B, trans_b=tb, bias=bias, relu=True, bf16=native),
                       c.gemm(a, B, trans_b=tb, bias=bias, relu=True, bf16=native + "-portable"))


def test_bf16_true_is_the_process_path_in_the_compiled_tier(rng, monkeypatch):
    c = get_backend("cython")
    a, b, _, _ = _operands(rng, 20, 50, 30)
    for path in nnx.precision.bf16_paths():
        monkeypatch.setenv("NNX_BF16_PATH", path)
        _same_bits(c.gemm(a, b, bf16=True), c.gemm(a, b, bf16=path))


def test_bad_bf16_arguments_are_refused_naming_them():
    c = get_backend("cython")
    a = np.ones((2, 2), F)
    with pytest.raises(ValueError, match="gemm: bf16: expected a bool or one of emulated, avx512_bf16"):
        c.gemm(a, a, bf16="fp8")
    with pytest.raises(TypeError, match="gemm: bf16='amx-portable' needs float32 operands, got float64"):
        c.gemm(a.astype(np.float64), a.astype(np.float64), bf16="amx-portable")
    for name in ("avx512_bf16", "amx"):
        if name not in nnx.precision.bf16_paths():
            with pytest.raises(ValueError, match=f"gemm: bf16='{name}': this process runs at CPU level"):
                c.gemm(a, a, bf16=name)
            with pytest.raises(ValueError, match=f"conv2d_forward: bf16='{name}'"):
                c.conv2d_forward(np.ones((1, 1, 3, 3), F), np.ones((1, 1, 2, 2), F), None, 1, 0, bf16=name)


# -- convolutions and layers -------------------------------------------------------------------
CONVS = [(2, 3, 7, 6, 4, 3, 1, 1), (3, 6, 14, 14, 16, 5, 1, 0), (2, 3, 9, 7, 5, 3, 2, 1), (2, 1, 28, 28, 6, 5, 1, 2),
         (5, 2, 5, 5, 3, (3, 2), (2, 1), (1, 0))]


@pytest.mark.parametrize("path", _paths())
@pytest.mark.parametrize("geometry", CONVS, ids=str)
def test_bf16_conv_is_its_path_arithmetic(path, geometry, rng):
    c, v = get_backend("cython"), get_backend("vectorized")
    n, ci, h, w, oc, k, s, p = geometry
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((n, ci, h, w)).astype(F)
    wt = rng.standard_normal((oc, ci, kh, kw)).astype(F)
    b = rng.standard_normal(oc).astype(F)
    y, cache = c.conv2d_forward(x, wt, b, s, p, relu=True, bf16=path)
    yr, cr = v.conv2d_forward(x, wt, b, s, p, relu=True, bf16=path)
    _same_bits(y, yr)  # each output one accumulator, its (c, i, j) terms in order
    assert cache.bf16 == path
    dy = rng.standard_normal(y.shape).astype(F)
    dx, dw, db = c.conv2d_backward(dy, cache)
    dxr, dwr, dbr = v.conv2d_backward(dy, cr)
    # dx goes through col2im and dW through per-chunk partials: float32 sums in another order
    np.testing.assert_allclose(dx, dxr, rtol=0, atol=64 * 2.0 ** -24 * np.abs(dxr).max())
    np.testing.assert_allclose(dw, dwr, rtol=0, atol=n * h * w * 2.0 ** -24 * np.abs(dwr).max())
    np.testing.assert_array_equal(db, dbr)
    one = c.conv2d_forward(x, wt, b, s, p, relu=True, bf16=path, n_threads=1)
    _same_bits(one[0], y)
    for g1, g2 in zip(c.conv2d_backward(dy, one[1], n_threads=1), (dx, dw, db), strict=True):
        _same_bits(g1, g2)


@pytest.mark.parametrize("path", ["emulated", *_paths()])
def test_layers_under_autocast_run_the_forced_path(path, rng, monkeypatch):
    monkeypatch.setenv("NNX_BF16_PATH", path)
    v = get_backend("vectorized")
    lin = nnx.Linear(40, 24, rng=0)
    conv = nnx.Conv2d(3, 8, 3, padding=1, rng=1)
    x = rng.standard_normal((16, 40)).astype(F)
    xi = rng.standard_normal((4, 3, 10, 10)).astype(F)
    with nnx.autocast("bfloat16"):
        y, yc = lin.forward(x), conv.forward(xi)
    want = v.gemm(x, lin.weight.data, trans_b=True, bias=lin.bias.data, bf16=path)
    wantc, _ = v.conv2d_forward(xi, conv.weight.data, conv.bias.data, 1, 1, bf16=path)
    if path == "emulated":  # float32 sums, in the GEMM's own order
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(yc, wantc, rtol=1e-5, atol=1e-5)
    else:
        _same_bits(y, want)
        _same_bits(yc, wantc)
    dy = rng.standard_normal(y.shape).astype(F)
    dx = lin.backward(dy)
    np.testing.assert_allclose(dx, v.gemm(dy, lin.weight.data, bf16=path), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.weight.grad, v.gemm(dy, x, trans_a=True, bf16=path), rtol=1e-5, atol=1e-4)
