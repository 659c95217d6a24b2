"""Inverted dropout: in training, y = x ⊙ m / (1 - p) with m ~ Bernoulli(1 - p) per element; identity in eval.

Dividing the kept values by 1 - p keeps E[y] = x, so eval needs no rescaling. The mask m is an argument:
who draws it (manual.random, or the harness handing over torch's own mask) is the module's business.
Backward: y is linear in x for a fixed mask, so dL/dx = g ⊙ m / (1 - p).
p = 1 drops everything (y = 0, gradient 0, no 0·inf), as torch.
"""
import numpy as np


def dropout_scale(mask: np.ndarray, p: float, dtype) -> np.ndarray:
    """m / (1 - p) in `dtype` (torch's `noise.div_(1 - p)`), all zeros when p = 1."""
    if p == 1:
        return np.zeros(mask.shape, dtype=dtype)
    return mask.astype(dtype) / np.asarray(1 - p, dtype=dtype)


def dropout(x, scale):
    """x ⊙ m/(1 - p), with `scale` = dropout_scale(m, p, x.dtype)."""
    return x * scale


def dropout_backward(grad_output, scale):
    return grad_output * scale
