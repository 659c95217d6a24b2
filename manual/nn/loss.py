"""Loss modules: `loss_fn(input, target)` returns the loss; `loss_fn.backward()` returns dL/d(input)."""
import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_same_shape
from manual.nn.module import Module


class _Loss(Module):
    """Shared by all losses: the `reduction` argument, and the implicit upstream gradient 1 of a scalar loss."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
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
        grad_output = np.asarray(grad_output, dtype=dtype)
        check_same_shape(self.label(), "grad_output", grad_output, loss_shape)
        return grad_output

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """ℓ = (x - y)², reduced by `reduction` ('mean' divides by numel); ∂ℓ/∂x = 2(x - y).

    The course's MSE is the same mean of squares; scikit-learn's half-MSE (½(x-y)²) halves the gradient.
    Input and target must have the same shape: torch broadcasts with a warning, which silently averages
    over the wrong pairs, so manual refuses.
    """

    def forward(self, input, target):
        check_float_input(self.label(), input)
        target = np.asarray(target)
        check_same_shape(self.label(), "target", target, input.shape)
        check_float_input(self.label() + " target", target, input.dtype)
        loss = F.mse_loss(input, target, self.reduction)
        self.save_for_backward(input, target, loss.shape)
        return loss

    def backward(self, grad_output=None):
        input, target, loss_shape = self.saved_for_backward()
        grad_output = self.upstream(grad_output, loss_shape, input.dtype)
        return F.mse_loss_backward(grad_output, input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood on logits x (classes on dim 1), as `torch.nn.CrossEntropyLoss`.

    Class-index targets y, ε = label_smoothing, w = weight (1 when None), C classes:
        ℓ_i = -(1-ε)·w[y_i]·log p_i[y_i] - (ε/C)·Σ_c w_c·log p_i[c],   p_i = softmax(x_i)
        'mean' divides Σℓ_i by Σ_{i kept} w[y_i] (not by N when weighted); rows with y_i == ignore_index drop out.
    Probability targets T (float, same shape as x): ℓ_i = -Σ_c w_c·T'_ic·log p_ic, T' = (1-ε)T + ε/C, 'mean' / N.
    Backward (hand-derived in `functional.loss`): ∂ℓ_i/∂x_i = (Σ_c q_ic)·p_i - q_i, which for one-hot,
    unweighted targets is the familiar p_i - onehot(y_i).
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def check_target(self, input, target):
        n_classes = input.shape[0 if input.ndim == 1 else 1]
        if self.weight is not None:
            check_same_shape(self.label(), "weight", self.weight, (n_classes,))
            check_float_input(self.label() + " weight", self.weight, input.dtype)
        if target.shape == input.shape:
            check_float_input(self.label() + " probability target", target, input.dtype)
            return
        expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
        check_same_shape(self.label(), "class-index target", target, expected)
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{self.label()}: class-index targets must be integers (int64), got dtype {target.dtype}")
        bad = (target != self.ignore_index) & ((target < 0) | (target >= n_classes))
        if bad.any():
            raise IndexError(f"{self.label()}: Target {target[bad].flat[0]} is out of bounds: "
                             f"expected class indices in [0, {n_classes}) or ignore_index={self.ignore_index}")

    def forward(self, input, target):
        check_float_input(self.label(), input)
        if input.ndim == 0:
            raise ValueError(f"{self.label()}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got ()")
        target = np.asarray(target)
        self.check_target(input, target)
        loss = F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)
        self.save_for_backward(input, target, loss.shape)
        return loss

    def backward(self, grad_output=None):
        input, target, loss_shape = self.saved_for_backward()
        grad_output = self.upstream(grad_output, loss_shape, input.dtype)
        return F.cross_entropy_backward(grad_output, input, target, self.weight, self.ignore_index,
                                        self.reduction, self.label_smoothing)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"
