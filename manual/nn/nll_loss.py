"""NLLLoss and CrossEntropyLoss: one computation (`functional.nll`), CE = NLL of log_softmax(logits)."""
import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_same_shape, kept_on_refusal, refuse_subclass
from manual.nn.loss import _Loss

CLASS_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))  # torch's Long and Byte


class NLLLoss(_Loss):
    """ℓ_i = -w[y_i]·x[i, y_i] on log-probabilities x (classes on dim 1: (C,), (N, C) or (N, C, d1, ...));
    rows with y_i == ignore_index give 0. 'mean' divides Σℓ_i by Σ_{i kept} w[y_i] (by the count of kept
    targets when unweighted). ∂ℓ_i/∂x[i, c] = -w[y_i] for c = y_i, 0 otherwise (/ the same sum for 'mean').
    LogSoftmax + NLLLoss = CrossEntropyLoss.
    """

    probability_targets = False
    label_smoothing = 0.0
    derivative = staticmethod(F.nll_loss_backward)

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", None if weight is None else np.asarray(weight))
        self.ignore_index = ignore_index

    def check_target(self, input, target) -> bool:
        """Raise on a target torch refuses; True when every target is a class index in [0, C) (then none equals
        ignore_index unless ignore_index itself is a class)."""
        n_classes = input.shape[0 if input.ndim == 1 else 1]
        if self.weight is not None:
            check_same_shape(self, "weight", self.weight, (n_classes,))
            check_float_input(self.label() + " weight", self.weight, input.dtype)
        if self.probability_targets and target.shape == input.shape:
            check_float_input(self.label() + " probability target", target, input.dtype)
            if self.ignore_index >= 0:  # torch: "ignore_index is not supported for floating point target"
                raise ValueError(f"{self.label()}: ignore_index is not supported for probability (floating point) "
                                 f"targets: expected ignore_index < 0, got {self.ignore_index}")
            return False
        check_same_shape(self, "class-index target", target, F.sample_shape(input))
        if target.dtype not in CLASS_INDEX_DTYPES:  # torch: "expected target dtype to be Long or Byte"
            raise TypeError(f"{self.label()}: class-index targets must be integers of dtype int64 (or uint8), "
                            f"got dtype {target.dtype}")
        if target.size == 0 or (target.min() >= 0 and target.max() < n_classes):
            return True  # every target a class (two reductions; the mask below only when some is not)
        bad = (target != self.ignore_index) & ((target < 0) | (target >= n_classes))
        if bad.any():
            raise IndexError(f"{self.label()}: Target {target[bad].flat[0]} is out of bounds: "
                             f"expected class indices in [0, {n_classes}) or ignore_index={self.ignore_index}")
        return False

    def log_probabilities(self, rows):
        """lp from the input's rows: NLLLoss is given log-probabilities."""
        return rows

    def forward(self, input, target):
        check_float_input(self, input)
        if input.ndim == 0:
            raise ValueError(f"{self.label()}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got ()")
        refuse_subclass(self, "target", target)
        target = np.asarray(target)
        classes = self.check_target(input, target)
        all_kept = classes and not 0 <= self.ignore_index < input.shape[0 if input.ndim == 1 else 1]
        targets = F.target_weights(input, target, self.weight, self.ignore_index, self.label_smoothing, all_kept)
        log_probs = self.log_probabilities(F.classes_last(input))
        loss = F.weighted_nll(log_probs, targets, F.sample_shape(input), self.reduction)
        # `target` too: plain class indices are kept as a view of it (targets.labels), and only the saved array
        # objects are made read-only, so without it an in-place edit of the target would go unseen
        self.save_for_backward(log_probs, targets, loss.shape, input.shape, target)
        return loss

    def backward(self, grad_output=None):
        saved = log_probs, targets, loss_shape, input_shape, _ = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = self.upstream(grad_output, loss_shape, log_probs.dtype)
        return F.classes_back(self.derivative(grad_output, log_probs, targets, self.reduction), input_shape)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class CrossEntropyLoss(NLLLoss):
    """Softmax + negative log-likelihood on logits x (classes on dim 1), as `torch.nn.CrossEntropyLoss`.

    Class-index targets y, ε = label_smoothing, w = weight (1 when None), C classes:
        ℓ_i = -(1-ε)·w[y_i]·log p_i[y_i] - (ε/C)·Σ_c w_c·log p_i[c],   p_i = softmax(x_i)
        'mean' divides Σℓ_i by Σ_{i kept} w[y_i] (not by N when weighted); rows with y_i == ignore_index drop out.
    Probability targets T (float, same shape as x): ℓ_i = -Σ_c w_c·T'_ic·log p_ic, T' = (1-ε)T + ε/C, 'mean' / N.
    Backward (hand-derived in `functional.nll`): ∂ℓ_i/∂x_i = (Σ_c q_ic)·p_i - q_i, which for one-hot,
    unweighted targets is the familiar p_i - onehot(y_i).
    """

    probability_targets = True
    derivative = staticmethod(F.cross_entropy_backward)

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def log_probabilities(self, rows):
        return F.log_softmax(rows, dim=1)

    def extra_repr(self):
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"
