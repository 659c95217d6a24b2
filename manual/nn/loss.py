"""Loss modules: `loss_fn(input, target)` returns the loss; `loss_fn.backward()` returns dL/d(input).

Elementwise losses (regression and binary) live here; NLLLoss and CrossEntropyLoss in `nll_loss.py`. The math
and its derivation are in `functional.loss` / `functional.nll`. Input and target must have the same shape:
torch broadcasts some mismatches with a warning, which silently averages over the wrong pairs, so manual refuses.
"""
from collections.abc import Callable

import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_between, check_float_input, check_same_shape, kept_on_refusal, refuse_subclass
from manual.nn.module import Module


class _Loss(Module):
    """Shared by all losses: `reduction`, and the implicit upstream gradient 1 of a scalar loss.

    torch's legacy `size_average`/`reduce` arguments are in the signature (so positional calls line up with
    torch's) but only their default None is accepted: use `reduction`.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError(f"{type(self).__name__}: the legacy size_average/reduce arguments are not supported; "
                             f"use reduction='none'|'mean'|'sum'")
        if reduction not in F.REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {F.REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def upstream(self, grad_output, loss_shape, dtype):
        """dL/d(loss): 1 for a scalar loss when not given; required for reduction='none', as in torch."""
        if grad_output is None:
            if loss_shape != ():
                raise RuntimeError(f"{self.label()}: grad can be implicitly created only for scalar outputs; "
                                   f"pass backward(grad_output) of shape {loss_shape}")
            return np.asarray(1, dtype=dtype)
        refuse_subclass(self, "grad_output", grad_output)
        grad_output = np.asarray(grad_output, dtype=dtype)
        check_same_shape(self, "grad_output", grad_output, loss_shape)
        return grad_output

    def check_weight(self, name: str, value, input, shape) -> None:
        """A weight tensor must have the input's float dtype (torch raises too) and broadcast to `shape`."""
        if value is None:
            return
        check_float_input(f"{self.label()} {name}", value, input.dtype)
        try:
            np.broadcast_shapes(value.shape, shape)
        except ValueError:
            raise ValueError(f"{self.label()}: {name} of shape {value.shape} does not broadcast to {shape}") from None

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _ElementwiseLoss(_Loss):
    """ℓ = function(input, target, **arguments()) elementwise, reduced; backward = derivative(...) (functional)."""

    # set by each subclass (a functional loss and its backward); None in this abstract base
    function: Callable[..., np.ndarray] | None = None
    derivative: Callable[..., np.ndarray] | None = None

    def arguments(self) -> dict:
        return {}

    def check(self, input, target) -> None:
        """Extra input checks of one loss (BCE's probability range)."""

    def forward(self, input, target):
        check_float_input(self, input)
        refuse_subclass(self, "target", target)
        target = np.asarray(target)
        check_same_shape(self, "target", target, input.shape)
        check_float_input(self.label() + " target", target, input.dtype)
        self.check(input, target)
        loss = self.function(input, target, reduction=self.reduction, **self.arguments())
        self.save_for_backward(input, target, loss.shape)
        return loss

    def backward(self, grad_output=None):
        saved = input, target, loss_shape = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = self.upstream(grad_output, loss_shape, input.dtype)
        return self.derivative(grad_output, input, target, reduction=self.reduction, **self.arguments())


class L1Loss(_ElementwiseLoss):
    """ℓ = |x - y| (MAE for 'mean'); ∂ℓ/∂x = sign(x - y), torch's subgradient 0 at x = y."""
    function, derivative = staticmethod(F.l1_loss), staticmethod(F.l1_loss_backward)


class MSELoss(_ElementwiseLoss):
    """ℓ = (x - y)², reduced by `reduction` ('mean' divides by numel); ∂ℓ/∂x = 2(x - y).

    The course's MSE is the same mean of squares; scikit-learn's half-MSE (½(x-y)²) halves the gradient.
    """
    function, derivative = staticmethod(F.mse_loss), staticmethod(F.mse_loss_backward)


class HuberLoss(_ElementwiseLoss):
    """ℓ = ½d² if |d| < δ else δ(|d| - ½δ), d = x - y; ∂ℓ/∂x = clip(d, -δ, δ). Huber(δ) = δ·SmoothL1(β=δ)."""
    function, derivative = staticmethod(F.huber_loss), staticmethod(F.huber_loss_backward)

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        if not isinstance(delta, (int, float, np.integer, np.floating)):  # torch's TypeError (a complex, a str)
            raise TypeError(f"HuberLoss: delta must be a float or int, got {type(delta).__name__} {delta!r}")
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def arguments(self):
        return {"delta": self.delta}


class SmoothL1Loss(_ElementwiseLoss):
    """ℓ = ½d²/β if |d| < β else |d| - ½β; ∂ℓ/∂x = clip(d/β, -1, 1); β = 0 is exactly L1Loss (gradient too)."""
    function, derivative = staticmethod(F.smooth_l1_loss), staticmethod(F.smooth_l1_loss_backward)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        if not isinstance(beta, (int, float, np.integer, np.floating)):  # torch refuses a str (and a complex in forward)
            raise TypeError(f"SmoothL1Loss: beta must be a float or int, got {type(beta).__name__} {beta!r}")
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def arguments(self):
        return {"beta": self.beta}


class BCELoss(_ElementwiseLoss):
    """ℓ = -w·[y·log x + (1-y)·log(1-x)] on probabilities x and targets y in [0, 1] (both checked, as torch),
    each log clamped at -100 (torch's rule);
    ∂ℓ/∂x = w·(x - y)/max(x(1-x), 1e-12) (the clamp is ignored by the gradient, as torch).

    'mean' averages over all N·C elements. The course's BCE sums over the C classes and averages over the
    N samples: that is C × this 'mean', i.e. reduction='sum' divided by N.
    """
    function, derivative = staticmethod(F.binary_cross_entropy), staticmethod(F.binary_cross_entropy_backward)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else np.asarray(weight))

    def check(self, input, target):
        check_between(self, "input", input, 0, 1, " (probabilities; use BCEWithLogitsLoss on logits)")
        check_between(self, "target", target, 0, 1)
        self.check_weight("weight", self.weight, input, input.shape)

    def arguments(self):
        return {"weight": self.weight}


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Sigmoid + BCE on logits x, stably: ℓ = w·[(1-y)·x - L·log σ(x)], L = 1 + (pos_weight-1)·y;
    ∂ℓ/∂x = w·[(pos_weight·y + 1 - y)·σ(x) - pos_weight·y] (σ(x) - y without pos_weight).

    Multi-label: x, y of shape (N, C) are C independent binary problems; pos_weight (C,) weighs the positives
    of each class. 'mean' averages over N·C elements; the course's sum over classes is C × that (see BCELoss).
    """
    function = staticmethod(F.binary_cross_entropy_with_logits)
    derivative = staticmethod(F.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else np.asarray(weight))
        self.register_buffer("pos_weight", None if pos_weight is None else np.asarray(pos_weight))

    def check(self, input, target):
        self.check_weight("weight", self.weight, input, input.shape)
        self.check_weight("pos_weight", self.pos_weight, input, input.shape)

    def arguments(self):
        return {"weight": self.weight, "pos_weight": self.pos_weight}
