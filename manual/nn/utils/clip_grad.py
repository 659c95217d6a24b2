"""Gradient clipping, as torch.nn.utils.clip_grad: by the total norm of all gradients, or elementwise by value.

    total_norm = ‖(‖g_1‖_p, ..., ‖g_k‖_p)‖_p          = ‖concat(g_1, ..., g_k)‖_p: one norm over ALL gradients
    clip_coef  = min(max_norm / (total_norm + 1e-6), 1)  never scales up; the 1e-6 keeps a zero norm finite
    g_i        = g_i · clip_coef                         every gradient by the same factor: the direction is kept

Parameters whose `.grad` is None are skipped. The coefficient is computed in the gradients' dtype, from the
per-gradient norms rounded to that dtype, as torch does. `foreach` is accepted for torch's signature; NumPy has
a single code path.
"""
from __future__ import annotations

import math
import types
import warnings

import numpy as np

from manual.nn.module import Parameter


def _as_list(parameters) -> list:
    if isinstance(parameters, (Parameter, np.ndarray)):
        return [parameters]
    return list(parameters)


def _vector_norm(x: np.ndarray, norm_type: float) -> np.ndarray:
    """torch.linalg.vector_norm(x, norm_type): computed in float64, rounded once to x's dtype."""
    magnitude = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if norm_type == math.inf:
        value = magnitude.max(initial=0.0)
    elif norm_type == -math.inf:
        value = magnitude.min() if magnitude.size else math.inf
    elif norm_type == 0:
        value = np.count_nonzero(magnitude)
    elif norm_type == 1:
        value = magnitude.sum()
    elif norm_type == 2:
        value = np.sqrt(np.dot(magnitude, magnitude))
    else:
        value = np.sum(magnitude ** norm_type) ** (1.0 / norm_type)
    return np.asarray(value, dtype=x.dtype)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> np.ndarray:
    """The p-norm of all the arrays in `tensors` together (as if concatenated into one vector), as a 0-d array.

    An empty list gives 0.0 (float32, as torch's `torch.tensor(0.0)`).
    """
    arrays = _as_list(tensors)
    norm_type = float(norm_type)
    if not arrays:
        return np.array(0.0, dtype=np.float32)
    norms = [_vector_norm(a, norm_type) for a in arrays]
    total_norm = _vector_norm(np.stack(norms), norm_type)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           f"cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           f"anyway, set `error_if_nonfinite=False`")
    return total_norm


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale every `.grad` in place by min(max_norm / (total_norm + 1e-6), 1), for a total norm computed already."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total_norm = np.asarray(total_norm)
    clip_coef = float(max_norm) / (total_norm + 1e-6)  # in total_norm's dtype: Python scalars stay weak (NEP 50)
    clip_coef_clamped = np.minimum(clip_coef, 1.0)  # NaN stays NaN, as torch.clamp
    with np.errstate(invalid="ignore"):  # an infinite norm: inf·0 = NaN, silently, as in torch
        for grad in grads:
            grad *= clip_coef_clamped


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> np.ndarray:
    """Clip the gradients of `parameters` (a Parameter or an iterable of them) to a total `norm_type`-norm of at
    most `max_norm`, in place; return the total norm before clipping (a 0-d array in the gradients' dtype)."""
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = _as_list(parameters)
    if is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every `.grad` in place to [-clip_value, clip_value] (NaN stays NaN)."""
    clip_value = float(clip_value)
    for param in _as_list(parameters):
        if param.grad is not None:
            np.clip(param.grad, -clip_value, clip_value, out=param.grad)
