"""Softmax and log-softmax along `dim`, max-shifted, with their hand-derived backward passes.

Both backward passes take the forward's output y, as torch's `_softmax_backward_data` and
`_log_softmax_backward_data` do.
"""
import warnings

import numpy as np


def implicit_softmax_dim(ndim: int) -> int:
    """torch's legacy choice when `dim` is omitted (deprecated there, with a warning, as here)."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Pass dim explicitly.", UserWarning,
                  stacklevel=2)
    return 0 if ndim in (0, 1, 3) else 1


def _shift(x, dim: int):
    """x - max along `dim`; a zero-size x (torch accepts it) has no max and gives an empty result."""
    if x.size == 0:
        return np.array(x, copy=True)
    return x - _max(x, dim)


SHORT_ROWS = 32  # up to this many classes, `_max` reduces a transposed copy


def _max(x, dim: int):
    """x.max(axis=dim, keepdims=True). NumPy's float max along short contiguous rows runs element by element
    (1024x10 float32: 73 µs); over the columns of a transposed copy it is vectorised (6.5 µs, copy included),
    faster up to about 32 classes (256x32: 27 -> 6 µs; 256x128: 32 -> 49). The maximum is exact in any order,
    NaN propagates either way; only a row whose maximum is ±0 may get the other zero, which changes no value."""
    if x.ndim == 2 and dim in (1, -1) and x.shape[1] <= SHORT_ROWS:
        return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0)[:, None]
    return x.max(axis=dim, keepdims=True)


def softmax(x, dim: int):
    """y_i = e^(x_i - M) / Σ_j e^(x_j - M), M = max_j x_j along `dim` (the shift cancels; it prevents overflow)."""
    e = np.exp(_shift(x, dim))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_output, y, dim: int):
    """∂y_i/∂x_j = y_i(δ_ij - y_j), so dL/dx_j = Σ_i g_i y_i(δ_ij - y_j) = y_j (g_j - Σ_i g_i y_i)."""
    return y * (grad_output - (grad_output * y).sum(axis=dim, keepdims=True))


def log_softmax(x, dim: int):
    """log y_i = (x_i - M) - log Σ_j e^(x_j - M); never log(softmax(x)), which gives -inf in float32."""
    shifted = _shift(x, dim)
    if shifted.size == 0:
        return shifted
    shifted -= np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    return shifted


def log_softmax_backward(grad_output, y, dim: int):
    """∂ log y_i/∂x_j = δ_ij - softmax_j, so dL/dx_j = g_j - e^(y_j)·Σ_i g_i   (y = log softmax, e^y = softmax)."""
    return grad_output - np.exp(y) * grad_output.sum(axis=dim, keepdims=True)
