"""Batch normalisation over the batch (and length) axes of (N, C) or (N, C, L) inputs, per channel C.

Forward (training, batch statistics; n = N or N·L values per channel):
    μ = (1/n) Σ x,   σ² = (1/n) Σ (x - μ)²          (biased variance normalises the batch)
    x̂ = (x - μ)·s,   s = 1/√(σ² + eps),   y = γ ⊙ x̂ + β
    running_mean ← (1-f)·running_mean + f·μ,   running_var ← (1-f)·running_var + f·σ²·n/(n-1)   (unbiased)
Forward (eval): μ, σ² are the running statistics; nothing is updated.

Backward (training), with G = dL/dy and Σ over the n values of a channel. x̂ depends on x directly and
through μ and σ²:  ∂μ/∂x_i = 1/n,  ∂σ²/∂x_i = 2(x_i - μ)/n, so
    dL/dx̂ = γG;   dL/dσ² = Σ γG (x - μ)·(-½) s³;   dL/dμ = -s Σ γG   (the σ² term's Σ(x-μ) is 0)
    dL/dx = s·γG + dL/dσ²·2(x - μ)/n + dL/dμ/n = (γ·s/n)·(n·G - Σ G - x̂ Σ(G ⊙ x̂))
    dL/dγ = Σ G ⊙ x̂,   dL/dβ = Σ G
Backward (eval): μ and σ² are constants, so dL/dx = G·γ·s (dL/dγ and dL/dβ as above).
An empty batch (n = 0, torch accepts it) has no statistics: the output is empty, the running statistics are
left as they are, and the gradients are empty (input) and zero (γ, β: empty sums).

Statistics and the normalisation are computed in float64 and the output cast to the input's dtype: torch's
CPU kernel accumulates float32 statistics in double (`acc_type<float, false>` is double), so this lands
closest to it.
"""
import numpy as np


def _channel_axes(x):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Returns (y, saved for backward). `running_mean`/`running_var` (or None) are updated in place when training."""
    axes, shape = _channel_axes(x)
    x64 = x.astype(np.float64)
    if training and x.shape[0] * int(np.prod(x.shape[2:])) == 0:  # empty batch: nothing to normalise
        mean, var = np.zeros(x.shape[1]), np.ones(x.shape[1])
    elif training:
        n = x.size // x.shape[1]
        mean = x64.mean(axis=axes)
        var = ((x64 - mean.reshape(shape)) ** 2).mean(axis=axes)
        if running_mean is not None:
            running_mean[...] = momentum * mean + (1 - momentum) * running_mean
        if running_var is not None:
            running_var[...] = momentum * var * n / (n - 1) + (1 - momentum) * running_var
    else:
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    invstd = 1 / np.sqrt(var + eps)
    x_hat = (x64 - mean.reshape(shape)) * invstd.reshape(shape)
    y = x_hat if weight is None else x_hat * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y.astype(x.dtype), (x_hat, invstd, training)


def batch_norm_backward(grad_output, weight, saved):
    """Returns (dL/dx, dL/dγ, dL/dβ) from the forward's (x̂, s, training) and γ (None when affine=False)."""
    x_hat, invstd, training = saved
    axes, shape = _channel_axes(grad_output)
    g = grad_output.astype(np.float64)
    gamma = 1.0 if weight is None else weight.astype(np.float64).reshape(shape)
    sum_g = g.sum(axis=axes)
    sum_g_xhat = (g * x_hat).sum(axis=axes)
    if training and g.size == 0:
        grad_input = g
    elif training:
        n = g.size // g.shape[1]
        grad_input = (gamma * invstd.reshape(shape) / n) * (
            n * g - sum_g.reshape(shape) - x_hat * sum_g_xhat.reshape(shape))
    else:
        grad_input = g * gamma * invstd.reshape(shape)
    dtype = grad_output.dtype
    return grad_input.astype(dtype), sum_g_xhat.astype(dtype), sum_g.astype(dtype)
