"""Elementwise losses as pure functions: `<loss>(input, target, ...)` and `<loss>_backward(grad, input, target, ...)`.

`reduction`: 'none' keeps the per-element loss ℓ; 'sum' is Σℓ; 'mean' divides Σℓ by a denominator D (numel
here; the target-weight sum for class-index NLL/cross-entropy, see `functional.nll`). The backward of 'mean'
is the 'none' gradient divided by the same D, times the upstream scalar gradient. Elementwise `weight`s
scale each term and do not change D. d = x - y below.
"""
import numpy as np

from manual.nn.functional.activation import logsigmoid, sigmoid

REDUCTIONS = ("none", "mean", "sum")
BCE_EPS = float(np.float32(1e-12))  # torch's EPSILON is the float literal 1e-12 = 9.99999996e-13, in float64 too
BCE_LOG_FLOOR = -100.0


def reduce(loss: np.ndarray, reduction: str, denominator=None) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    denominator = loss.size if denominator is None else denominator
    if denominator == 0:
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 = NaN when every target is ignored, as torch
            return total / denominator
    return total / denominator


def reduced_grad(local_grad: np.ndarray, grad_output, reduction: str, denominator=None) -> np.ndarray:
    """Chain rule through the reduction: local ∂ℓ/∂x times dL/dℓ (broadcast scalar, or per element)."""
    if reduction == "none":
        return local_grad * grad_output
    if reduction == "sum" or not local_grad.size:  # an empty input's gradient is empty: nothing to divide
        scale = grad_output
    else:
        scale = grad_output / (local_grad.size if denominator is None else denominator)
    return local_grad * np.asarray(scale, dtype=local_grad.dtype)


# -- regression: L1, MSE, Huber, SmoothL1 ----------------------------------------------------------------
def l1_loss(input, target, reduction: str = "mean"):
    """ℓ = |d| (mean absolute error for 'mean')."""
    return reduce(np.abs(input - target), reduction)


def l1_loss_backward(grad_output, input, target, reduction: str = "mean"):
    """∂ℓ/∂x = sign(d), with torch's subgradient 0 at d = 0 (the derivative of |.| is `sgn`)."""
    return reduced_grad(np.sign(input - target), grad_output, reduction)


def mse_loss(input, target, reduction: str = "mean"):
    """ℓ = d²; 'mean' divides by numel (torch's MSE, not the half-MSE of some textbooks)."""
    diff = input - target
    return reduce(diff * diff, reduction)


def mse_loss_backward(grad_output, input, target, reduction: str = "mean"):
    """∂ℓ/∂x = 2d."""
    return reduced_grad(2 * (input - target), grad_output, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """ℓ = ½d² if |d| < δ else δ(|d| - ½δ): quadratic near 0, linear (slope δ) in the tails; C¹ at |d| = δ."""
    z = np.abs(input - target)
    return reduce(np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta)), reduction)


def huber_loss_backward(grad_output, input, target, reduction: str = "mean", delta: float = 1.0):
    """∂ℓ/∂x = d inside, δ·sign(d) outside: clip(d, -δ, δ)."""
    return reduced_grad(np.clip(input - target, -delta, delta), grad_output, reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """ℓ = ½d²/β if |d| < β else |d| - ½β; Huber(δ) = δ·SmoothL1(β=δ); β = 0 is exactly L1 (torch calls l1_loss)."""
    if beta == 0:
        return l1_loss(input, target, reduction)
    z = np.abs(input - target)
    return reduce(np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta), reduction)


def smooth_l1_loss_backward(grad_output, input, target, reduction: str = "mean", beta: float = 1.0):
    """∂ℓ/∂x = d/β inside, sign(d) outside: clip(d/β, -1, 1); for β = 0, L1's sign(d) (0 at d = 0)."""
    if beta == 0:
        return l1_loss_backward(grad_output, input, target, reduction)
    return reduced_grad(np.clip((input - target) / beta, -1, 1), grad_output, reduction)


# -- binary: BCE on probabilities, BCE on logits ----------------------------------------------------------
def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """ℓ = -w·[y·max(log x, -100) + (1-y)·max(log(1-x), -100)] on probabilities x in [0, 1].

    Each log is clamped at -100 BEFORE multiplying by y, so x = 0, y = 1 gives 100 (not inf) and x = 1,
    y = 1 gives 0 (not 0·(-inf) = NaN). log(1-x) is computed as log1p(-x), as torch.
    """
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(input), BCE_LOG_FLOOR)
        log_1mx = np.maximum(np.log1p(-input), BCE_LOG_FLOOR)
    loss = (target - 1) * log_1mx - target * log_x
    return reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction: str = "mean"):
    """∂ℓ/∂x = -w·(y/x - (1-y)/(1-x)) = w·(x - y)/(x(1-x)), with the denominator floored at EPS = 1e-12 (float32).

    torch's gradient ignores the -100 clamp of the forward: at x = 0, y = 1 it is -1/EPS ≈ -1e12, not 0.
    """
    local = (input - target) / np.maximum((1 - input) * input, np.asarray(BCE_EPS, dtype=input.dtype))
    return reduced_grad(local if weight is None else local * weight, grad_output, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction: str = "mean"):
    """ℓ = w·[(1-y)·x - L·log σ(x)],  L = 1 + (pos_weight - 1)·y.

    From ℓ = -w[pos_weight·y·log σ(x) + (1-y)·log(1 - σ(x))] and log(1 - σ(x)) = log σ(x) - x; log σ through
    `logsigmoid`, so logits of ±1e4 stay finite. pos_weight broadcasts over the last (class) dimension.
    """
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    return reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None, pos_weight=None,
                                              reduction: str = "mean"):
    """∂ℓ/∂x = w·[(1-y) - L·(1 - σ(x))] = w·[(pos_weight·y + 1 - y)·σ(x) - pos_weight·y]
    (σ(x) - y without pos_weight)."""
    s = sigmoid(input)
    if pos_weight is None:
        local = s - target
    else:
        t = pos_weight * target
        local = (t + 1 - target) * s - t
    return reduced_grad(local if weight is None else local * weight, grad_output, reduction)
