"""The kernel contract: every kernel each tier provides, with its parameters, layouts and result.

A tier (``loops``, ``vectorized``, ``compiled``) is a module whose ``__all__`` is ``KERNELS``'s
keys; each function has exactly the parameters written here (tests/test_contract.py checks
names and signatures and says which tier lacks what). To add a kernel: one line here, one
``_args`` check, one function per tier. Shared rules: float32 or float64 (never mixed), the
input dtype comes back, inputs are never modified, strided input is made C-contiguous once,
every argument goes through ``_args`` before anything is allocated, and ``n_threads`` (last,
keyword-only; ``None`` = ``nnx.get_num_threads()``) is ignored by loops and vectorized.
``bf16=True`` (float32 only, else TypeError) rounds the operands to bfloat16 (nearest even,
NaN kept) and sums the exact products in float32: the arithmetic of ``nnx.autocast``.
"""
_T = "*, n_threads=None"
#: Every kernel's name and signature, the same in the three tiers (``loops``, ``vectorized``,
#: ``cython``): the contract each tier's module is checked against.
KERNELS = {
    # name: (parameters, what it takes -> what it returns)
    "gemm": ("a, b, trans_a=False, trans_b=False, out=None, beta=0.0, *, bias=None, relu=False, bf16=False, "
             "n_threads=None",
             "a (M, K) or (K, M) if trans_a, b (K, N) or (N, K) if trans_b -> out (M, N) := op(a) op(b) "
             "+ beta out [+ bias (N,) per row] [then ReLU]; `out` must not overlap a or b; bf16: a and b "
             "rounded to bf16"),
    "round_bf16": (f"x, {_T}", "x float32 (only) any shape -> new float32 array of x rounded to bfloat16 "
                   "(nearest even; NaN stays NaN, quieted)"),
    "relu_forward": (f"x, {_T}", "x any shape -> (y = max(x, 0) (NaN kept), mask = x > 0 bool)"),
    "relu_backward": (f"dy, mask, {_T}", "dy, mask of one shape -> dx = dy where mask else 0"),
    "softmax": (f"x, {_T}", "x (N, C) -> softmax of each row (N, C)"),
    "log_softmax": (f"x, {_T}", "x (N, C) -> log-softmax of each row (N, C)"),
    "softmax_cross_entropy": (f"logits, labels, {_T}", "logits (N, C), labels (N,) ints in [0, C) -> "
                              "(mean loss: float, dlogits (N, C) = (softmax - onehot) / N)"),
    "im2col": (f"x, kh, kw, stride, pad, {_T}", "x (N, C, H, W) -> cols (C*kh*kw, N*OH*OW)"),
    "col2im": (f"cols, x_shape, kh, kw, stride, pad, {_T}", "cols (C*kh*kw, N*OH*OW) -> dx x_shape, "
               "overlaps summed"),
    "conv2d_forward": ("x, w, b, stride, pad, *, relu=False, bf16=False, n_threads=None", "x (N, C, H, W), "
                       "w (OC, C, KH, KW), b (OC,) or None -> (y (N, OC, OH, OW) [ReLU], cache); bf16: x and w "
                       "rounded to bf16"),
    "conv2d_backward": ("dy, cache, *, input_grad=True, n_threads=None", "dy (N, OC, OH, OW), the forward's "
                        "cache -> (dx or None without input_grad, dw, db or None); a bf16 forward's cache "
                        "rounds dy to bf16 too"),
    "maxpool2d_forward": (f"x, k, stride=None, {_T}", "x (N, C, H, W) -> (y (N, C, OH, OW), argmax int64 "
                          "flat index in H*W: first maximum, NaN wins)"),
    "maxpool2d_backward": (f"dy, argmax, x_shape, {_T}", "dy, argmax (N, C, OH, OW) -> dx x_shape"),
    "avgpool2d_forward": (f"x, k, stride=None, {_T}", "x (N, C, H, W) -> y (N, C, OH, OW), window means"),
    "avgpool2d_backward": (f"dy, x_shape, k, stride=None, {_T}", "dy (N, C, OH, OW) -> dx x_shape"),
    "sigmoid_forward": (f"x, {_T}", "x any shape -> y = 1 / (1 + exp(-x))"),
    "sigmoid_backward": (f"dy, y, {_T}", "dy, the forward's y -> dx = dy y (1 - y)"),
    "tanh_forward": (f"x, {_T}", "x any shape -> y = tanh(x)"),
    "tanh_backward": (f"dy, y, {_T}", "dy, the forward's y -> dx = dy (1 - y^2)"),
    "elu_forward": (f"x, alpha=1.0, {_T}", "x -> y = x if x > 0 else alpha expm1(x)"),
    "elu_backward": (f"dy, x, y, alpha=1.0, {_T}", "dy, x, y -> dx = dy if x > 0 else dy (y + alpha)"),
    "leaky_relu_forward": (f"x, negative_slope=0.01, {_T}", "x -> y = x if x > 0 else slope x"),
    "leaky_relu_backward": (f"dy, x, negative_slope=0.01, {_T}", "dy, x -> dx = dy if x > 0 else slope dy"),
    "batchnorm_forward": (f"x, gamma, beta, eps=1e-05, {_T}", "x (N, C, ...), gamma, beta (C,) -> (y, xhat of "
                          "x's shape, mean (C,) f64, biased var (C,) f64, invstd (C,))"),
    "batchnorm_backward": (f"dy, xhat, invstd, gamma, {_T}", "dy, xhat (N, C, ...), invstd, gamma (C,) -> "
                           "(dx, dgamma (C,), dbeta (C,))"),
    "normalize_forward": (f"x, mean, std, {_T}", "x (N, C, ...), mean, std (C,) or (1,) -> y = (x - mean) / std "
                          "per channel (axis 1; one value for every channel)"),
    "normalize_backward": (f"dy, std, {_T}", "dy (N, C, ...), std (C,) or (1,) -> dx = dy / std"),
    "batchnorm_apply": (f"x, mean, invstd, gamma, beta, {_T}", "x (N, C, ...), mean, invstd, gamma, beta (C,) -> "
                        "(y, xhat): xhat = (x - mean) invstd, y = xhat gamma + beta (eval mode: given statistics)"),
    # Optimizer steps: update ``param`` and its state arrays in place (torch's rules), return None.
    "sgd_update": ("param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, "
                   f"nesterov=False, first_step=False, {_T}", "torch.optim.SGD step"),
    "adam_update": ("param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, "
                    f"decoupled=False, {_T}", "torch.optim.Adam (AdamW if decoupled) step, 1-based step"),
    "adagrad_update": (f"param, grad, state_sum, lr, eps, weight_decay, {_T}",
                       "torch.optim.Adagrad step; lr already decayed for this step"),
    "rmsprop_update": ("param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, "
                       f"momentum, {_T}", "torch.optim.RMSprop step; grad_avg None unless centered, "
                       "momentum_buffer None unless momentum > 0"),
}
