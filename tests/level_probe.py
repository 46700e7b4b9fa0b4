"""Print a JSON map {case: sha256 prefix} of compiled-tier results, for tests/test_levels.py to
compare between CPU levels (run as `NNX_CPU_LEVEL=<level> python tests/level_probe.py`).

Each case hashes the outputs of one kernel family on fixed inputs, float32 and float64: GEMMs
(blocked, narrow and matrix-vector shapes, transposes, the bias/ReLU epilogue), convolutions
(forward, dx, dW; stride 1 and 2), the softmax family, the activations, pooling, BatchNorm, the
five optimizers, and a short fit of an MLP and a small CNN in float32 and in bf16."""
import hashlib
import json
import sys
import warnings

import numpy as np

import nnx
from nnx.kernels import get_backend

# the kernels whose code has no multiply-add to fuse: the same bits at the baseline level too
NO_FMA = ("relu", "leaky_relu", "pool", "gemv")


def _hash(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def kernel_cases(rng):
    c = get_backend("cython")
    out = {}
    for dt in (np.float32, np.float64):
        t = np.dtype(dt).name
        for m, k, n in [(128, 784, 512), (7, 33, 10), (64, 256, 10), (200, 300, 1), (1, 50, 70)]:
            a, b = rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, n)).astype(dt)
            bias = rng.standard_normal(n).astype(dt)
            kind = "gemv" if 1 in (m, n) else "gemm"
            out[f"{kind} {t} {m}x{k}x{n}"] = _hash(
                c.gemm(a, b), c.gemm(a, b, bias=bias, relu=True), c.gemm(a.T.copy(), b, trans_a=True),
                c.gemm(a, b.T.copy(), trans_b=True))
        for n_, ci, h, w, oc, k, s, p in [(8, 1, 28, 28, 6, 5, 1, 2), (8, 6, 14, 14, 16, 5, 1, 0),
                                          (4, 3, 9, 7, 4, 3, 2, 1), (4, 16, 8, 8, 32, 3, 1, 1)]:
            x, wt = rng.standard_normal((n_, ci, h, w)).astype(dt), rng.standard_normal((oc, ci, k, k)).astype(dt)
            y, cache = c.conv2d_forward(x, wt, rng.standard_normal(oc).astype(dt), s, p)
            out[f"conv {t} {(n_, ci, h, w, oc, k, s, p)}"] = _hash(y, *c.conv2d_backward(np.ones_like(y), cache))
        x, labels = rng.standard_normal((64, 130)).astype(dt), rng.integers(0, 130, 64)
        loss, dlogits = c.softmax_cross_entropy(x, labels)
        out[f"softmax {t}"] = _hash(c.softmax(x), c.log_softmax(x), dlogits, np.array(loss))
        z = rng.standard_normal((64, 1000)).astype(dt) * 4
        y = c.sigmoid_forward(z)
        out[f"sigmoid {t}"] = _hash(y, c.sigmoid_backward(z, y))
        y = c.tanh_forward(z)
        out[f"tanh {t}"] = _hash(y, c.tanh_backward(z, y))
        y = c.elu_forward(z)
        out[f"elu {t}"] = _hash(y, c.elu_backward(z, z, y))
        out[f"leaky_relu {t}"] = _hash(c.leaky_relu_forward(z), c.leaky_relu_backward(z, z))
        y, mask = c.relu_forward(z)
        out[f"relu {t}"] = _hash(y, mask, c.relu_backward(z, mask))
        x = rng.standard_normal((8, 6, 28, 28)).astype(dt)
        y, arg = c.maxpool2d_forward(x, 2)
        out[f"pool {t}"] = _hash(y, arg, c.maxpool2d_backward(y, arg, x.shape), c.avgpool2d_forward(x, 2))
    return out


def layer_cases(rng):
    out = {}
    for dt in (np.float32, np.float64):
        t = np.dtype(dt).name
        for name, layer, shape in [("bn2d", nnx.BatchNorm2d(16, dtype=dt), (32, 16, 8, 8)),
                                   ("bn1d", nnx.BatchNorm1d(64, dtype=dt), (128, 64))]:
            y = layer.forward(rng.standard_normal(shape).astype(dt))
            dx = layer.backward(np.ones_like(y))
            out[f"{name} {t}"] = _hash(y, dx, layer.weight.grad, layer.bias.grad, layer.running_var)
        for oname, make in [("sgd", lambda p: nnx.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
                            ("adam", lambda p: nnx.optim.Adam(p, lr=1e-3, weight_decay=1e-4)),
                            ("adamw", lambda p: nnx.optim.AdamW(p, lr=1e-3)),
                            ("adagrad", lambda p: nnx.optim.Adagrad(p, lr=0.1)),
                            ("rmsprop", lambda p: nnx.optim.RMSprop(p, lr=0.01, momentum=0.9))]:
            p = nnx.Parameter(rng.standard_normal(70000).astype(dt))
            opt = make([p])
            for _ in range(3):
                p.grad[...] = rng.standard_normal(70000).astype(dt)
                opt.step()
            out[f"{oname} {t}"] = _hash(p.data)
    X, y, _, _ = nnx.datasets.load_digits()
    for arch in ("mlp", "cnn"):
        for prec in ("fp32", "bf16"):
            if arch == "mlp":
                model = nnx.models.mlp(X.shape[1:], 10, hidden=(64, 32), rng=0)
            else:
                model = nnx.Sequential(nnx.Conv2d(1, 6, 3, padding=1, rng=0), nnx.ReLU(), nnx.MaxPool2d(2),
                                       nnx.Flatten(), nnx.Linear(96, 10, rng=1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "bf16 runs emulated"
                nnx.fit(model, nnx.SoftmaxCrossEntropy(), nnx.optim.Adam(model.parameters(), lr=1e-3),
                        (X[:512], y[:512]), epochs=1, batch_size=32, seed=0, progress=False, precision=prec)
            out[f"fit {arch} {prec}"] = _hash(*[p.data for p in model.parameters()])
    return out


def main():
    nnx.set_num_threads(2)
    rng = np.random.default_rng(0)
    out = {"level": nnx.cpu_level(), "bf16_path": nnx.precision.bf16_path()}
    out.update(kernel_cases(rng))
    out.update(layer_cases(rng))
    json.dump(out, sys.stdout, indent=0)


if __name__ == "__main__":
    main()
