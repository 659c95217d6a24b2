"""Negative log-likelihood and cross-entropy, one computation: CE(x) = NLL(log_softmax(x)) with class weights q.

Both losses are ℓ_row = -Σ_c q_c·lp_c on log-probabilities lp (NLL: given; CE: log_softmax of the logits),
classes on dim 1 ((C,), (N, C) or (N, C, d1, ...)), taken as rows of C. `target_weights` builds q and the
'mean' denominator D:
    class indices y (ε = label_smoothing, w = weight or 1):
        q = (1-ε)·w[y]·onehot(y) + (ε/C)·w,   q = 0 where y == ignore_index,   D = Σ_kept w[y]
    probability targets T (CE only, same shape as the input):
        q = w ⊙ ((1-ε)·T + ε/C),   D = number of rows (N·d1·...)
    plain class indices (no weight, no smoothing, none ignored): q = onehot(y), D = N, kept as the labels y:
        ℓ_row = -lp[row, y_row] is a gather, and no dense q is built.
Backward: ∂ℓ_row/∂lp_c = -q_c; for CE the log_softmax backward follows:
    ∂ℓ/∂x_j = -q_j + softmax_j·Σ_c q_c = (Σ_c q_c)·p_j - q_j,   which is p - onehot(y) for plain targets.
Each backward takes what its forward kept: the rows of log-probabilities and the target weights.
"""
from typing import NamedTuple

import numpy as np

from manual.nn.functional.loss import reduce
from manual.nn.functional.softmax import log_softmax, log_softmax_backward


def classes_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) -> (N·d1·..., C) rows; (C,) -> (1, C); (N, C) unchanged."""
    if x.ndim == 1:
        return x[None, :]
    if x.ndim == 2:
        return x
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def classes_back(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The inverse of `classes_last` for an input of `shape`."""
    if len(shape) == 1:
        return rows[0]
    if len(shape) == 2:
        return rows
    return np.moveaxis(rows.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def sample_shape(input: np.ndarray) -> tuple:
    """Shape of the per-sample loss: the input without its class dim 1 (a scalar for unbatched (C,))."""
    return () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


class TargetWeights(NamedTuple):
    """q (rows, C) and D of the module docstring; for plain class indices `labels` (rows,) instead of q."""
    q: np.ndarray | None
    labels: np.ndarray | None
    denominator: object

    def class_labels(self) -> np.ndarray:
        """`labels`, which a TargetWeights without q always has."""
        if self.labels is None:
            raise ValueError("TargetWeights: neither q nor labels is set")
        return self.labels


def target_weights(input, target, weight=None, ignore_index: int = -100, label_smoothing: float = 0.0,
                   all_kept: bool = False):
    """q and D for this input and target (see the module docstring). `all_kept`: the caller has checked that no
    class-index target equals ignore_index (which spares the comparison)."""
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    if target.shape == input.shape:  # probabilities
        probs = classes_last(target)
        if label_smoothing > 0:
            probs = (1 - label_smoothing) * probs + label_smoothing / n_classes
        w = 1 if weight is None else weight
        return TargetWeights((w * probs).astype(input.dtype, copy=False), None, probs.shape[0])
    labels = target.reshape(-1)
    if weight is None and label_smoothing == 0 and all_kept:
        return TargetWeights(None, labels, len(labels))
    kept = labels != ignore_index
    if weight is None and label_smoothing == 0 and kept.all():
        return TargetWeights(None, labels, len(labels))
    w = np.ones(n_classes, dtype=input.dtype) if weight is None else weight
    safe_labels = np.where(kept, labels, 0)
    target_weight = np.where(kept, w[safe_labels], 0).astype(input.dtype)
    q = np.zeros((len(labels), n_classes), dtype=input.dtype)
    q[np.arange(len(labels)), safe_labels] = (1 - label_smoothing) * target_weight
    if label_smoothing > 0:
        q += (label_smoothing / n_classes) * np.where(kept[:, None], w, 0).astype(input.dtype)
    return TargetWeights(q, None, target_weight.sum(dtype=input.dtype))


def weighted_nll(log_probs, targets: TargetWeights, sample_shape: tuple, reduction: str):
    """-Σ_c q_c lp_c per row, reduced; entries with q = 0 are skipped, so lp = -inf there gives no 0·inf."""
    if targets.q is None:
        labels = targets.class_labels()
        per_row = -log_probs[np.arange(len(labels)), labels]
    else:
        terms = np.multiply(targets.q, log_probs, out=np.zeros_like(log_probs), where=targets.q != 0)
        per_row = -terms.sum(axis=1)
    return reduce(per_row.reshape(sample_shape), reduction, targets.denominator)


def _scale(grad_output, targets: TargetWeights, reduction: str, dtype):
    """dL/dℓ_row: per row ('none', a column), dL/dℓ ('sum') or dL/dℓ / D ('mean')."""
    if reduction == "none":
        return np.reshape(grad_output, (-1, 1))
    if reduction == "sum":
        return np.asarray(grad_output, dtype=dtype)
    if targets.denominator == 0:  # every row ignored: dL/dℓ / 0 = inf, which meets only q = 0 (skipped)
        with np.errstate(divide="ignore"):
            return np.asarray(grad_output / targets.denominator, dtype=dtype)
    return np.asarray(grad_output / targets.denominator, dtype=dtype)


def nll_loss_backward(grad_output, log_probs, targets: TargetWeights, reduction: str = "mean"):
    """dL/dlp rows: -q times the scale. Rows with q = 0 get exactly 0, also when D = 0 (every target ignored:
    the loss is NaN, the gradient 0, as torch)."""
    scale = _scale(grad_output, targets, reduction, log_probs.dtype)
    if targets.q is None:
        labels = targets.class_labels()
        grad = np.zeros_like(log_probs)
        grad[np.arange(len(labels)), labels] = -scale.reshape(-1)
        return grad
    return np.multiply(-targets.q, scale, out=np.zeros_like(log_probs), where=targets.q != 0)


def cross_entropy_backward(grad_output, log_probs, targets: TargetWeights, reduction: str = "mean"):
    """dL/dx rows: the NLL backward (-q, scaled), then log_softmax's: g - softmax·Σg = ((Σ_c q_c)·softmax - q)·scale;
    for plain targets (softmax - onehot(y))·scale directly."""
    if targets.q is None:
        labels = targets.class_labels()
        grad = np.exp(log_probs)
        grad[np.arange(len(labels)), labels] -= 1
        grad *= _scale(grad_output, targets, reduction, log_probs.dtype)
        return grad
    return log_softmax_backward(nll_loss_backward(grad_output, log_probs, targets, reduction), log_probs, dim=1)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """ℓ_i = -w[y_i]·x[i, y_i] on log-probabilities x; 'mean' divides by Σ_kept w[y_i] (not N when weighted)."""
    targets = target_weights(input, target, weight, ignore_index)
    return weighted_nll(classes_last(input), targets, sample_shape(input), reduction)


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """NLL of log_softmax(logits) over dim 1, q as in the module docstring (label smoothing, probability targets)."""
    targets = target_weights(input, target, weight, ignore_index, label_smoothing)
    return weighted_nll(log_softmax(classes_last(input), dim=1), targets, sample_shape(input), reduction)
