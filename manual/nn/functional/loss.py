"""Losses as pure functions: `<loss>(input, target, ...)` and `<loss>_backward(grad, ..., saved)`.

`reduction`: 'none' keeps the per-element (or per-sample) loss ℓ; 'sum' is Σℓ; 'mean' divides Σℓ by a
denominator D (numel for elementwise losses, the target-weight sum for class-index cross-entropy). The
backward of 'mean' is the 'none' gradient divided by the same D, times the upstream scalar gradient.
"""
import numpy as np

from manual.nn.functional.activation import log_softmax

REDUCTIONS = ("none", "mean", "sum")


def reduce(loss: np.ndarray, reduction: str, denominator=None) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    return total / (loss.size if denominator is None else denominator)


def reduced_grad(local_grad: np.ndarray, grad_output, reduction: str, denominator=None) -> np.ndarray:
    """Chain rule through the reduction: local ∂ℓ/∂x times dL/dℓ (broadcast scalar, or per element)."""
    if reduction == "none":
        return local_grad * grad_output
    scale = grad_output if reduction == "sum" else grad_output / (local_grad.size if denominator is None else denominator)
    return local_grad * np.asarray(scale, dtype=local_grad.dtype)


# -- MSE ----------------------------------------------------------------------------------------------
def mse_loss(input, target, reduction: str = "mean"):
    """ℓ = (x - y)²; 'mean' divides by numel (torch's MSE, not the half-MSE of some textbooks)."""
    diff = input - target
    return reduce(diff * diff, reduction)


def mse_loss_backward(grad_output, input, target, reduction: str = "mean"):
    """∂ℓ/∂x = 2(x - y)."""
    return reduced_grad(2 * (input - target), grad_output, reduction)


# -- cross-entropy ------------------------------------------------------------------------------------
def _classes_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N·d1·..., C) rows; (C,) -> (1, C); (N, C) unchanged."""
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _classes_back(rows: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.ndim == 1:
        return rows[0]
    moved_shape = (like.shape[0],) + like.shape[2:] + (like.shape[1],)
    return np.moveaxis(rows.reshape(moved_shape), -1, 1)


def cross_entropy_weights(input, target, weight=None, ignore_index: int = -100, label_smoothing: float = 0.0):
    """The per-class coefficients q (rows × C) with ℓ_row = -Σ_c q_c log softmax(x)_c, and the 'mean' D.

    Class-index targets y (ε = label_smoothing, w ≡ 1 without weight):
        q = (1-ε)·w[y]·onehot(y) + (ε/C)·w,   q = 0 for rows with y == ignore_index,  D = Σ_kept w[y]
    Probability targets T (same shape as the input):
        q = w ⊙ ((1-ε)·T + ε/C),                                                   D = number of rows
    """
    rows = _classes_last(input)
    n_classes = rows.shape[1]
    w = np.ones(n_classes, dtype=input.dtype) if weight is None else weight
    if target.shape == input.shape:
        probs = _classes_last(target)
        if label_smoothing > 0:
            probs = (1 - label_smoothing) * probs + label_smoothing / n_classes
        return (w * probs).astype(input.dtype, copy=False), rows.shape[0]
    labels = target.reshape(-1)
    kept = labels != ignore_index
    safe_labels = np.where(kept, labels, 0)
    target_weight = np.where(kept, w[safe_labels], 0).astype(input.dtype)
    q = np.zeros_like(rows)
    q[np.arange(len(labels)), safe_labels] = (1 - label_smoothing) * target_weight
    if label_smoothing > 0:
        q += (label_smoothing / n_classes) * np.where(kept[:, None], w, 0).astype(input.dtype)
    return q, target_weight.sum(dtype=input.dtype)


def _sample_shape(input: np.ndarray) -> tuple:
    """Shape of the per-sample loss: the input without its class dim 1 (a scalar for unbatched (C,))."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """ℓ = -Σ_c q_c log softmax(x)_c per sample (see `cross_entropy_weights`); logits with classes on dim 1."""
    q, denominator = cross_entropy_weights(input, target, weight, ignore_index, label_smoothing)
    per_sample = -(q * log_softmax(_classes_last(input), dim=1)).sum(axis=1)
    return reduce(per_sample.reshape(_sample_shape(input)), reduction, denominator)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0):
    """∂ℓ/∂x_j = (Σ_c q_c)·softmax(x)_j - q_j   (from ∂ log softmax(x)_c/∂x_j = δ_cj - softmax(x)_j)."""
    q, denominator = cross_entropy_weights(input, target, weight, ignore_index, label_smoothing)
    probabilities = np.exp(log_softmax(_classes_last(input), dim=1))
    local = q.sum(axis=1, keepdims=True) * probabilities - q
    if reduction == "none":
        scale = np.reshape(grad_output, (-1, 1))
    else:
        scale = grad_output if reduction == "sum" else grad_output / denominator
    return _classes_back(local * np.asarray(scale, dtype=input.dtype), input)
