"""BatchNorm1d: parameters and running statistics; the math and its derivation are in `functional.normalization`."""
import math

import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, resolve_dtype
from manual.nn.module import Module, Parameter


class BatchNorm1d(Module):
    """y = γ ⊙ (x - μ)/√(σ² + eps) + β per channel C of (N, C) or (N, C, L) inputs, as `torch.nn.BatchNorm1d`.

    Training: μ, σ² are the batch's (biased σ²), and with track_running_stats the buffers follow
        running_mean ← (1-f)·running_mean + f·μ,  running_var ← (1-f)·running_var + f·σ²·n/(n-1),
        f = momentum, or 1/num_batches_tracked when momentum is None (a cumulative average).
    momentum weighs the NEW batch (Keras' momentum is 1 - this). Eval: the running statistics (batch ones when
    track_running_stats=False). dL/dx = (γs/n)(nG - ΣG - x̂ Σ G⊙x̂) in training, G·γ·s in eval, s = 1/√(σ²+eps);
    dL/dγ = Σ G⊙x̂, dL/dβ = ΣG (derived in `functional.normalization`).
    State: weight (1s) and bias (0s) when affine; running_mean (0s), running_var (1s) and num_batches_tracked
    (int64, 0-d) when track_running_stats; keys in torch's order.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        dtype = resolve_dtype(dtype)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("bias", None)
        tracked = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64) if tracked else None)

    def _check_input(self, x, use_batch_stats: bool):
        """As torch: the dtype of the parameters (or, without them, of the running statistics); (N, C) or (N, C, L);
        with batch statistics (training, or no running statistics) not exactly one value per channel and eps > 0,
        otherwise eps >= 0. An empty batch is accepted, as torch: empty output, no statistics update (but
        num_batches_tracked still counts it), zero parameter gradients."""
        stored = self.weight.data if self.weight is not None else self.running_mean
        check_float_input(self, x, None if stored is None else stored.dtype)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"{self.label()}: expected input of shape (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {x.shape}")
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
        self.save_for_backward(saved)
        return y

    def _data(self, name):
        param = self._parameters[name]
        return None if param is None else param.data

    def backward(self, grad_output):
        (saved,) = self.saved_for_backward()
        check_grad_output(self, grad_output, saved[0].shape)  # saved[0] is x̂, of the output's shape
        grad_input, grad_weight, grad_bias = F.batch_norm_backward(grad_output, self._data("weight"), saved)
        self.accumulate_parameter_grads(weight=grad_weight, bias=grad_bias)
        return grad_input

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
