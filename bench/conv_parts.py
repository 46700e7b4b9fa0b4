"""Convolution forward, weight gradient and input gradient, timed apart, nnx or torch (bench/NOTES.md):

    python bench/conv_parts.py nnx 2      # compiled tier, 2 threads
    python bench/conv_parts.py torch 2    # run alternately with the line above, fresh processes

Layers: LeNet conv1 (128x1->6, 28x28, 5x5, pad 2), LeNet conv2 (128x6->16, 14x14, 5x5) and the
wide CNN's 64x32->64, 32x32, 3x3, pad 1; float32; medians of 20-60 calls. nnx prints forward,
backward, backward without dx and their difference (dx); torch forward and forward+backward.
"""
import sys
import time

import numpy as np

CONV = {"conv1": (128, 1, 6, 28, 5, 2), "conv2": (128, 6, 16, 14, 5, 0), "wide": (64, 32, 64, 32, 3, 1)}


def tm(f, reps):
    f()
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


def torch_layer(torch, name, x, w, b, dy, p, reps):
    xt, wt, bt, dyt = (torch.from_numpy(a) for a in (x, w, b, dy))
    xr, wr, br = (a.clone().requires_grad_() for a in (xt, wt, bt))

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, bt, padding=p)

    def both():
        xr.grad = wr.grad = br.grad = None
        torch.nn.functional.conv2d(xr, wr, br, padding=p).backward(dyt)
    print(f"{name} torch fwd {tm(forward, reps):.2f} fwd+bwd {tm(both, reps):.2f}")


def nnx_layer(conv, name, x, w, b, dy, p, reps):
    _, cache = conv.conv2d_forward(x, w, b, 1, p)
    f = tm(lambda: conv.conv2d_forward(x, w, b, 1, p), reps)
    bw = tm(lambda: conv.conv2d_backward(dy, cache), reps)
    dw = tm(lambda: conv.conv2d_backward(dy, cache, input_grad=False), reps)
    print(f"{name} nnx fwd {f:.2f} bwd {bw:.2f} (fwd+bwd {f + bw:.2f}) bwd no dx {dw:.2f} -> dx {bw - dw:.2f}")


def main(which, threads):
    rng = np.random.default_rng(0)
    if which == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import nnx
        nnx.set_num_threads(threads)
        conv = nnx.kernels.get_backend("cython")
    for name, (n, c, oc, h, k, p) in CONV.items():
        oh = h + 2 * p - k + 1
        x = rng.standard_normal((n, c, h, h)).astype(np.float32)
        w = (rng.standard_normal((oc, c, k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        dy = rng.standard_normal((n, oc, oh, oh)).astype(np.float32)
        reps = 20 if name == "wide" else 60
        if which == "torch":
            torch_layer(torch, name, x, w, b, dy, p, reps)
        else:
            nnx_layer(conv, name, x, w, b, dy, p, reps)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
