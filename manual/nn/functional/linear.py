"""Affine map y = x Wᵀ + b and its backward.

Shapes (torch's): x (*, in), W (out, in), b (out,), y (*, out); `*` is any number of leading dims.
The course writes O = X W_c + b with W_c of shape (in, out): W_c = Wᵀ, the same map.

Backward, with G = dL/dy and the leading dims flattened into rows (X: (n, in), G: (n, out)):
    dL/dx = G W             (n, out)(out, in) -> (n, in)
    dL/dW = Gᵀ X            sum over rows of the outer products g_r x_rᵀ -> (out, in)
    dL/db = Σ_rows G        b is broadcast to every row, so its gradient sums over them
"""
import math

import numpy as np


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def linear_backward(grad_output: np.ndarray, x: np.ndarray, weight: np.ndarray, has_bias: bool = True,
                    needs_input_grad: bool = True):
    """Returns (dL/dx or None, dL/dW, dL/db or None)."""
    rows = math.prod(x.shape[:-1])  # explicit: reshape(-1, 0) is ambiguous for zero-size arrays
    rows_g = grad_output.reshape(rows, weight.shape[0])
    rows_x = x.reshape(rows, weight.shape[1])
    grad_weight = rows_g.T @ rows_x
    grad_bias = rows_g.sum(axis=0) if has_bias else None
    grad_input = grad_output @ weight if needs_input_grad else None
    return grad_input, grad_weight, grad_bias
