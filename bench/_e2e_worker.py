"""Measure training samples/s of one framework in a fresh process (used by bench_e2e.py).

A fresh process per measurement matters: in one process the thread pools of nnx (libgomp),
torch and OpenBLAS would all be alive, and a pool still spinning after its last call slows the
other framework's kernels on the second core; loading one also sets up thread counts and
allocator state that the other would then inherit.

usage: python _e2e_worker.py {nnx,torch}[-bf16] {mlp,lenet5,cnn} THREADS [SECONDS]

``-bf16`` trains in mixed precision: nnx under ``nnx.autocast("bfloat16")`` (the bf16 path of the
CPU level, or NNX_BF16_PATH), torch under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

THREADS 0 leaves nnx's default (which adapts to other processes' load). With SECONDS, the figure
is the throughput over that many seconds of steady training (after a 1 s warm-up), not the best
of short runs: the busy-core measurement, where the best short run would catch the moments the
other process was descheduled.
"""
import sys
import time

import numpy as np

BATCH, STEPS, REPEATS = 128, 10, 5  # best of REPEATS runs of STEPS steps


def build(nn, model_name):
    """The same architecture from either library (``nn`` is nnx or torch.nn)."""
    relu = nn.ReLU
    if model_name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), relu(), nn.Linear(512, 256), relu(), nn.Linear(256, 10))
    if model_name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), relu(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), relu(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), relu(), nn.Linear(120, 84), relu(), nn.Linear(84, 10))
    if model_name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), relu(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), relu(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(3136, 128), relu(), nn.Linear(128, 10))
    raise SystemExit(f"unknown model {model_name}")


def nnx_step(model_name, threads, bf16=False):
    import contextlib

    import nnx

    nnx.tune_malloc()  # first, before anything is allocated (bench/NOTES.md, "malloc tuning")
    if threads:
        nnx.set_num_threads(threads)
    m = build(nnx, model_name)
    crit = nnx.SoftmaxCrossEntropy()
    opt = nnx.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

    def step(xb, yb):
        opt.zero_grad()
        with nnx.autocast("bfloat16") if bf16 else contextlib.nullcontext():
            loss = crit(m(xb), yb)
            m.backward(crit.backward(), input_grad=False)
        opt.step()
        return loss

    return step, (lambda a: a), (lambda a: a)


def torch_step(model_name, threads, bf16=False):
    import contextlib

    import torch

    torch.set_num_threads(threads)
    m = build(torch.nn, model_name)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    crit = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            out = m(xb)
        loss = crit(out.float(), yb)
        loss.backward()
        opt.step()
        return loss.item()

    return step, torch.from_numpy, torch.from_numpy


def steady(step, X, Y, seconds):
    """Samples/s over ``seconds`` of training after a 1 s warm-up."""
    counts, t0 = [0, 0], time.perf_counter()
    while (t := time.perf_counter() - t0) < 1 + seconds:
        for b in range(STEPS):
            step(X[b * BATCH:(b + 1) * BATCH], Y[b * BATCH:(b + 1) * BATCH])
        counts[t >= 1] += BATCH * STEPS
        if t < 1:
            t1 = time.perf_counter()
    return counts[1] / (time.perf_counter() - t1)


def main():
    fw, model_name, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fw, bf16 = fw.removesuffix("-bf16"), fw.endswith("-bf16")
    step, conv_x, conv_y = (nnx_step if fw == "nnx" else torch_step)(model_name, threads, bf16)
    rng = np.random.default_rng(0)
    shape = (784,) if model_name == "mlp" else (1, 28, 28)
    X = conv_x(rng.random((BATCH * STEPS, *shape), dtype=np.float32))
    Y = conv_y(rng.integers(0, 10, BATCH * STEPS))
    for _ in range(5):
        step(X[:BATCH], Y[:BATCH])
    if len(sys.argv) > 4:
        print(steady(step, X, Y, float(sys.argv[4])))
        return
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for b in range(STEPS):
            step(X[b * BATCH:(b + 1) * BATCH], Y[b * BATCH:(b + 1) * BATCH])
        best = min(best, time.perf_counter() - t0)
    print(BATCH * STEPS / best)


if __name__ == "__main__":
    main()
