"""Negative log-likelihood and cross-entropy, one computation: CE(x) = NLL(log_softmax(x)) with class weights q.

Both losses are ℓ_row = -Σ_c q_c·lp_c on log-probabilities lp (NLL: given; CE: log_softmax of the logits),
classes on dim 1 ((C,), (N, C) or (N, C, d1, ...)). `class_weights` builds q and the 'mean' denominator D:
    class indices y (ε = label_smoothing, w = weight or 1):
        q = (1-ε)·w[y]·onehot(y) + (ε/C)·w,   q = 0 where y == ignore_index,   D = Σ_kept w[y]
    probability targets T (CE only, same shape as the input):
        q = w ⊙ ((1-ε)·T + ε/C),   D = number of rows (N·d1·...)
Backward: ∂ℓ_row/∂lp_c = -q_c; for CE the log_softmax backward follows:
    ∂ℓ/∂x_j = -q_j + softmax_j·Σ_c q_c = (Σ_c q_c)·p_j - q_j,   which is p - onehot(y) for unweighted one-hot targets.
"""
import numpy as np

from manual.nn.functional.loss import reduce
from manual.nn.functional.softmax import log_softmax, log_softmax_backward


def classes_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N·d1·..., C) rows; (C,) -> (1, C); (N, C) unchanged."""
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def classes_back(rows: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.ndim == 1:
        return rows[0]
    moved_shape = (like.shape[0],) + like.shape[2:] + (like.shape[1],)
    return np.moveaxis(rows.reshape(moved_shape), -1, 1)


def sample_shape(input: np.ndarray) -> tuple:
    """Shape of the per-sample loss: the input without its class dim 1 (a scalar for unbatched (C,))."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def class_weights(input, target, weight=None, ignore_index: int = -100, label_smoothing: float = 0.0):
    """(q of shape (rows, C), D): see the module docstring."""
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    w = np.ones(n_classes, dtype=input.dtype) if weight is None else weight
    if target.shape == input.shape:
        probs = classes_last(target)
        if label_smoothing > 0:
            probs = (1 - label_smoothing) * probs + label_smoothing / n_classes
        return (w * probs).astype(input.dtype, copy=False), probs.shape[0]
    labels = target.reshape(-1)
    kept = labels != ignore_index
    safe_labels = np.where(kept, labels, 0)
    target_weight = np.where(kept, w[safe_labels], 0).astype(input.dtype)
    q = np.zeros((len(labels), n_classes), dtype=input.dtype)
    q[np.arange(len(labels)), safe_labels] = (1 - label_smoothing) * target_weight
    if label_smoothing > 0:
        q += (label_smoothing / n_classes) * np.where(kept[:, None], w, 0).astype(input.dtype)
    return q, target_weight.sum(dtype=input.dtype)


def _weighted_nll(log_probs, q, input, reduction, denominator):
    """-Σ_c q_c lp_c per row, reduced; entries with q = 0 are skipped, so lp = -inf there gives no 0·inf."""
    terms = np.multiply(q, log_probs, out=np.zeros_like(q), where=q != 0)
    return reduce(-terms.sum(axis=1).reshape(sample_shape(input)), reduction, denominator)


def _weighted_nll_backward(grad_output, q, reduction, denominator):
    """∂/∂lp = -q times dL/dℓ_row ('none'), dL/dℓ ('sum') or dL/dℓ / D ('mean'). Rows with q = 0 get exactly 0,
    also when D = 0 (every target ignored: the loss is NaN, the gradient 0, as torch)."""
    if reduction == "none":
        scale = np.reshape(grad_output, (-1, 1))
    else:
        with np.errstate(divide="ignore"):
            scale = grad_output if reduction == "sum" else grad_output / denominator
    return np.multiply(-q, np.asarray(scale, dtype=q.dtype), out=np.zeros_like(q), where=q != 0)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """ℓ_i = -w[y_i]·x[i, y_i] on log-probabilities x; 'mean' divides by Σ_kept w[y_i] (not N when weighted)."""
    q, denominator = class_weights(input, target, weight, ignore_index)
    return _weighted_nll(classes_last(input), q, input, reduction, denominator)


def nll_loss_backward(grad_output, input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """∂ℓ_i/∂x[i, c] = -w[y_i] if c = y_i else 0 (ignored rows 0), / D for 'mean'."""
    q, denominator = class_weights(input, target, weight, ignore_index)
    return classes_back(_weighted_nll_backward(grad_output, q, reduction, denominator), input)


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """NLL of log_softmax(logits) over dim 1, q as in the module docstring (label smoothing, probability targets)."""
    q, denominator = class_weights(input, target, weight, ignore_index, label_smoothing)
    return _weighted_nll(log_softmax(classes_last(input), dim=1), q, input, reduction, denominator)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index: int = -100,
                           reduction: str = "mean", label_smoothing: float = 0.0):
    """The NLL backward (-q, scaled), then log_softmax's: g - softmax·Σg = (Σ_c q_c)·softmax - q."""
    q, denominator = class_weights(input, target, weight, ignore_index, label_smoothing)
    log_probs = log_softmax(classes_last(input), dim=1)
    grad_log_probs = _weighted_nll_backward(grad_output, q, reduction, denominator)
    return classes_back(log_softmax_backward(grad_log_probs, log_probs, dim=1), input)
