"""BatchNorm1d, BatchNorm2d and LayerNorm: parameters and running statistics; the math and its derivations (one
shared backward of the standardisation) are in `functional.normalization`."""
import math
from collections.abc import Callable

import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, kept_on_refusal, resolve_dtype
from manual.nn.module import Module, Parameter


class _Normalization(Module):
    """What batch and layer norm share: the optional affine γ (weight, 1s) and β (bias, 0s), and a backward that
    is their functional backward (grad_output, γ, what the forward saved) plus the parameter gradients."""

    _backward: Callable[..., tuple] | None = None  # staticmethod: F.batch_norm_backward or F.layer_norm_backward

    def _affine_parameters(self, shape, affine: bool, bias: bool, dtype) -> None:
        self.register_parameter("weight", Parameter(np.ones(shape, dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(shape, dtype)) if affine and bias else None)

    def _data(self, name):
        param = self._parameters[name]
        return None if param is None else param.data

    def backward(self, grad_output):
        saved, dtype = kept = self.saved_for_backward()
        # saved[0] is x̂ (float64), of the output's shape; an integer grad_output is cast to the input's dtype
        with kept_on_refusal(self, kept):
            grad_output = check_grad_output(self, grad_output, saved[0].shape, dtype)
        grad_input, grad_weight, grad_bias = self._backward(grad_output, self._data("weight"), saved)
        self.accumulate_parameter_grads(weight=grad_weight, bias=grad_bias)
        return grad_input


class _BatchNorm(_Normalization):
    """y = γ ⊙ (x - μ)/√(σ² + eps) + β per channel C (dim 1), μ and σ² over N and the spatial dims, as torch's
    `_BatchNorm`; the subclasses only say which input shapes they take (`_INPUT_SHAPES`).

    Training: μ, σ² are the batch's (biased σ²), and with track_running_stats the buffers follow
        running_mean ← (1-f)·running_mean + f·μ,  running_var ← (1-f)·running_var + f·σ²·n/(n-1),
        f = momentum, or 1/num_batches_tracked when momentum is None (a cumulative average).
    momentum weighs the NEW batch (Keras' momentum is 1 - this). Eval: the running statistics (batch ones when
    track_running_stats=False). dL/dx = (γs/n)(nG - ΣG - x̂ Σ G⊙x̂) in training, G·γ·s in eval, s = 1/√(σ²+eps);
    dL/dγ = Σ G⊙x̂, dL/dβ = ΣG (derived in `functional.normalization`).
    State: weight (1s) and bias (0s) when affine; running_mean (0s), running_var (1s) and num_batches_tracked
    (int64, 0-d) when track_running_stats; keys in torch's order.
    """

    _INPUT_SHAPES: dict = {}  # ndim -> the shape accepted, e.g. {2: "(N, {C})", 3: "(N, {C}, L)"}
    _backward = staticmethod(F.batch_norm_backward)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        dtype = resolve_dtype(dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self._affine_parameters(num_features, affine, bias, dtype)
        tracked = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64) if tracked else None)

    def _check_input(self, x, use_batch_stats: bool):
        """As torch: the dtype of the parameters (or, without them, of the running statistics); a shape in
        `_INPUT_SHAPES`; with batch statistics (training, or no running statistics) more than one value per
        channel and eps > 0, otherwise eps >= 0. An empty batch is accepted, as torch: empty output, no statistics
        update (but num_batches_tracked still counts it), zero parameter gradients."""
        stored = self.weight.data if self.weight is not None else self.running_mean
        check_float_input(self, x, None if stored is None else stored.dtype)
        if x.ndim not in self._INPUT_SHAPES or x.shape[1] != self.num_features:
            shapes = " or ".join(shape.format(C=self.num_features) for shape in self._INPUT_SHAPES.values())
            raise ValueError(f"{self.label()}: expected input of shape {shapes}, got {x.shape}")
        if use_batch_stats and x.shape[0] * math.prod(x.shape[2:]) == 1:
            raise ValueError(f"{self.label()}: Expected more than 1 value per channel when training, "
                             f"got input size {x.shape}")
        if not (self.eps > 0 if use_batch_stats else self.eps >= 0):
            raise ValueError(f"{self.label()}: eps must be {'positive' if use_batch_stats else 'non-negative'} "
                             f"{'with batch statistics (training)' if use_batch_stats else 'in eval'}, "
                             f"got {self.eps}")

    def forward(self, input):
        x = input
        use_batch_stats = self.training or self.running_mean is None
        self._check_input(x, use_batch_stats)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1  # in place: the buffer stays a 0-d int64 array
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        uses_buffers = not self.training or self.track_running_stats  # read (eval) or updated (training)
        running_mean, running_var = (self.running_mean, self.running_var) if uses_buffers else (None, None)
        y, saved = F.batch_norm(x, running_mean, running_var, self._data("weight"), self._data("bias"),
                                use_batch_stats, factor, self.eps)
        self.save_for_backward(saved, x.dtype)
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) inputs, as `torch.nn.BatchNorm1d`: statistics per channel over N (and
    L), n = N or N·L values. Everything else is `_BatchNorm`'s."""

    _INPUT_SHAPES = {2: "(N, {C})", 3: "(N, {C}, L)"}


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) inputs (images), as `torch.nn.BatchNorm2d`: statistics per channel over N, H
    and W, n = N·H·W values. Everything else is `_BatchNorm`'s."""

    _INPUT_SHAPES = {4: "(N, {C}, H, W)"}


class LayerNorm(_Normalization):
    """y = γ ⊙ (x - μ)/√(σ² + eps) + β per sample, μ and σ² (biased) over the last dims `normalized_shape`, as
    `torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None)`.

    normalized_shape: an int (the last dim) or a tuple/list (the last len(...) dims). Unlike batch norm the
    statistics are the sample's own, so training and eval compute the same and there are no buffers.
    weight (1s) and bias (0s) have shape normalized_shape (one value per normalised element) when
    elementwise_affine; bias=False drops the bias. Backward, with g = G ⊙ γ and s = 1/√(σ² + eps):
    dL/dx = s·(g - mean(g) - x̂·mean(g ⊙ x̂)) per sample; dL/dγ = Σ G ⊙ x̂ and dL/dβ = Σ G over the samples
    (derived in `functional.normalization`).
    """

    _backward = staticmethod(F.layer_norm_backward)

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype)
        shape = (normalized_shape,) if not isinstance(normalized_shape, (tuple, list)) else normalized_shape
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in shape):
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple/list of ints, got "
                            f"{normalized_shape!r}")
        if not shape or min(shape) < 0:  # torch refuses both (in forward / when making the weight)
            raise ValueError(f"LayerNorm: normalized_shape must hold at least one size, each non-negative, got "
                             f"{normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self._affine_parameters(self.normalized_shape, elementwise_affine, bias, dtype)

    def forward(self, input):
        check_float_input(self, input, None if self.weight is None else self.weight.dtype)
        size = len(self.normalized_shape)
        if input.ndim < size or input.shape[input.ndim - size:] != self.normalized_shape:
            shape = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"{self.label()}: expected input of shape (*, {shape}) (its last dims normalized_shape), "
                             f"got {input.shape}")
        y, saved = F.layer_norm(input, self.normalized_shape, self._data("weight"), self._data("bias"), self.eps)
        self.save_for_backward(saved, input.dtype)
        return y

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
