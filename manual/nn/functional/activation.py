"""Elementwise activations and softmax: forward y = f(x), backward dL/dx = g ⊙ f'(x).

Where f' is cheaper from the output than from the input (sigmoid, tanh, softmax, ReLU's mask) the backward
takes y, as torch's kernels do; the value chosen at a kink is torch's (ReLU'(0) = 0).
"""
import warnings

import numpy as np


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(grad_output, y):
    """ReLU'(x) = 1 if x > 0 else 0; torch masks on the output y > 0, so the subgradient at 0 is 0."""
    return grad_output * (y > 0)


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(-x)), evaluated without overflow: e^(-|x|) never exceeds 1."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_backward(grad_output, y):
    """σ'(x) = σ(x)(1 - σ(x)) = y(1 - y)."""
    return grad_output * y * (1 - y)


def tanh(x):
    return np.tanh(x)


def tanh_backward(grad_output, y):
    """tanh'(x) = 1 - tanh²(x) = 1 - y²."""
    return grad_output * (1 - y * y)


def implicit_softmax_dim(ndim: int) -> int:
    """torch's legacy choice when `dim` is omitted (deprecated there, with a warning, as here)."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Pass dim explicitly.", UserWarning)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(x, dim: int):
    """y_i = e^(x_i - M) / Σ_j e^(x_j - M), M = max_j x_j along `dim` (the shift cancels; it prevents overflow)."""
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_output, y, dim: int):
    """∂y_i/∂x_j = y_i(δ_ij - y_j), so dL/dx_j = Σ_i g_i y_i(δ_ij - y_j) = y_j (g_j - Σ_i g_i y_i)."""
    return y * (grad_output - (grad_output * y).sum(axis=dim, keepdims=True))


def log_softmax(x, dim: int):
    """log y_i = (x_i - M) - log Σ_j e^(x_j - M); never log(softmax(x)), which gives -inf in float32."""
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
