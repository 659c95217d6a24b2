"""Normalisation: batch norm per channel over (N, *spatial), layer norm per sample over its last dims.

Both standardise a set R of n values, x̂ = (x - μ)·s with μ = (1/n) Σ_R x, σ² = (1/n) Σ_R (x - μ)² (biased) and
s = 1/√(σ² + eps), and share one backward. Given g = dL/dx̂ on R, x̂ depends on x directly and through μ and
σ²:  ∂μ/∂x_i = 1/n,  ∂σ²/∂x_i = 2(x_i - μ)/n, so
    dL/dσ² = Σ g (x - μ)·(-½) s³;   dL/dμ = -s Σ g   (the σ² term's Σ(x - μ) is 0)
    dL/dx = s·g + dL/dσ²·2(x - μ)/n + dL/dμ/n = s·(g - mean_R(g) - x̂·mean_R(g ⊙ x̂))        (normalize_backward)
i.e. the Jacobian s(I - 11ᵀ/n - x̂x̂ᵀ/n) of the standardisation, symmetric, applied to g.

Batch norm (n = N or N·L or N·H·W values per channel C; R = one channel):
    y = γ ⊙ x̂ + β;  training: μ, σ² of the batch, and
    running_mean ← (1-f)·running_mean + f·μ,   running_var ← (1-f)·running_var + f·σ²·n/(n-1)   (unbiased)
    eval: μ, σ² are the running statistics, constants, so dL/dx = G·γ·s.
    g = γG (γ is one number per channel, so dL/dx = (γ·s/n)·(n·G - Σ G - x̂ Σ(G ⊙ x̂)));
    dL/dγ = Σ G ⊙ x̂,  dL/dβ = Σ G, over N and the spatial dims.
Layer norm (R = the last len(normalized_shape) dims of one sample, n = their product):
    y = γ ⊙ x̂ + β with γ, β of shape normalized_shape (one value per ELEMENT of R, not per row), so
    g = G ⊙ γ varies within the row and stays inside the sums:  dL/dx = s·(g - mean_R(g) - x̂·mean_R(g ⊙ x̂));
    dL/dγ = Σ_rows G ⊙ x̂,  dL/dβ = Σ_rows G (over the leading dims). Layer norm has no running statistics
    and computes the same in training and eval.
An empty batch (n = 0, torch accepts it) has no statistics: the output is empty, the running statistics are
left as they are, and the gradients are empty (input) and zero (γ, β: empty sums).

Statistics and the normalisation are computed in float64 and the output cast to the input's dtype: torch's
CPU batch-norm kernel accumulates float32 statistics in double (`acc_type<float, false>` is double), so this
lands closest to it. Its layer-norm kernel computes float32 in float32; the rounded float64 result stays within
2.4e-7 of it relative to each tensor's scale (compare/module_cases.py NORM_CASES, 14% of the float32 tolerance).
"""
import numpy as np

__all__ = ["batch_norm", "batch_norm_backward", "layer_norm", "layer_norm_backward", "normalize_backward"]


def _channel_axes(x):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def _mean(values, axes):
    """values.mean(axis=axes, keepdims=True) (the same sum / count), 0 over an empty set: a LayerNorm whose
    normalized_shape holds a 0 normalises empty samples, whose output is empty (torch gives no warning)."""
    count = int(np.prod([values.shape[axis] for axis in axes]))
    return values.sum(axis=axes, keepdims=True) / max(count, 1)


def normalize_backward(g, x_hat, invstd, axes):
    """dL/dx = s·(g - mean(g) - x̂·mean(g ⊙ x̂)) with the means over `axes` (the set normalised together);
    `invstd` s broadcasts against g. All float64."""
    mean_g = _mean(g, axes)
    mean_g_xhat = _mean(g * x_hat, axes)
    return invstd * (g - mean_g - x_hat * mean_g_xhat)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Returns (y, saved for backward). `running_mean`/`running_var` (or None) are updated in place when training.
    x is (N, C, *spatial): (N, C), (N, C, L), (N, C, H, W), ..."""
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
    if training and g.size == 0:  # empty batch
        grad_input = g
    elif training:
        grad_input = normalize_backward(g * gamma, x_hat, invstd.reshape(shape), axes)
    else:
        grad_input = g * gamma * invstd.reshape(shape)
    dtype = grad_output.dtype
    return grad_input.astype(dtype), (g * x_hat).sum(axis=axes).astype(dtype), g.sum(axis=axes).astype(dtype)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Returns (y, saved for backward): each sample standardised over its last dims `normalized_shape`, then
    y = γ ⊙ x̂ + β (γ, β of shape normalized_shape, or None)."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    x64 = x.astype(np.float64)
    mean = _mean(x64, axes)
    invstd = 1 / np.sqrt(_mean((x64 - mean) ** 2, axes) + eps)
    x_hat = (x64 - mean) * invstd
    y = x_hat if weight is None else x_hat * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype), (x_hat, invstd, axes)


def layer_norm_backward(grad_output, weight, saved):
    """Returns (dL/dx, dL/dγ, dL/dβ) from the forward's (x̂, s, normalised axes) and γ (None without
    elementwise_affine); dL/dγ and dL/dβ sum over the leading (not normalised) dims."""
    x_hat, invstd, axes = saved
    g = grad_output.astype(np.float64)
    gamma = 1.0 if weight is None else weight.astype(np.float64)
    leading = tuple(range(x_hat.ndim - len(axes)))
    dtype = grad_output.dtype
    return (normalize_backward(g * gamma, x_hat, invstd, axes).astype(dtype),
            (g * x_hat).sum(axis=leading).astype(dtype), g.sum(axis=leading).astype(dtype))
