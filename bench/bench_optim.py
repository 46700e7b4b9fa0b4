"""One optimizer step over the MLP 784-512-256-10's parameters (535k floats), per optimizer and
tier (the layers' default, cython, is what training uses), beside torch's step on the same shapes."""
import numpy as np
import pytest
from conftest import TIERS

import nnx

SHAPES = [(512, 784), (512,), (256, 512), (256,), (10, 256), (10,)]
OPTIMIZERS = {"SGD": dict(lr=0.01, momentum=0.9), "Adam": dict(lr=1e-3), "Adagrad": dict(lr=0.01),
              "RMSprop": dict(lr=0.01)}


@pytest.mark.parametrize("impl", [t for t in TIERS if t != "loops"] + ["torch"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_step(benchmark, impl, name, threads, rng):
    benchmark.group = f"optimizer step {name} MLP 784-512-256-10 float32, {threads} thr"
    n = sum(int(np.prod(s)) for s in SHAPES)
    benchmark.extra_info["bytes"] = n * 4 * {"SGD": 5, "Adam": 7, "Adagrad": 5, "RMSprop": 5}[name]
    data = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    if impl == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(threads)
        params = [torch.nn.Parameter(torch.from_numpy(d.copy())) for d in data]
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.from_numpy(g)
        opt = getattr(torch.optim, name)(params, **OPTIMIZERS[name])
        run = opt.step
    else:
        params = [nnx.Parameter(d.copy()) for d in data]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt = getattr(nnx.optim, name)(params, **OPTIMIZERS[name])

        def run():
            with nnx.use_backend(impl):
                opt.step()
    run()
    assert all(np.isfinite(np.asarray(p.detach() if impl == "torch" else p.data)).all() for p in params)
    benchmark(run)
