"""Maxout layer (Goodfellow et al. 2013; not in torch.nn: `torch_ref.nn.Maxout` is its torch twin)."""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, check_last_dim, kept_on_refusal, resolve_dtype
from manual.nn.module import Module, Parameter


class Maxout(Module):
    """y_j = max_k (x Wᵀ + b)_{j·pieces + k},  j < out_features, k < pieces.

    weight: (out_features·pieces, in_features), bias: (out_features·pieces,); state_dict keys `weight`, `bias`,
    the same as `torch_ref.nn.Maxout`. Layout: rows j·pieces ... j·pieces + pieces - 1 are the pieces of unit j
    (the affine output viewed as (*, out_features, pieces)). Init as torch's Linear(in_features,
    out_features·pieces): U(-1/√in_features, 1/√in_features) for weight, then bias.
    Backward: the winning piece of each unit receives g_j, the others 0; then Linear's backward
    (dL/dx = Gz W, dL/dW = Gzᵀ X, dL/db = Σ_rows Gz). Ties: the first maximal piece (lowest k) takes the
    gradient, as torch's `max(dim)`. The course's maxout h = max_k(X W_k + b_k) with W_k (in, out) is the same
    layer: W_k = weight[k::pieces].T.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int, bias: bool = True, dtype=None):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        dtype = resolve_dtype(dtype)
        bound = 1 / np.sqrt(in_features) if in_features > 0 else 0.0
        rng = random.generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features * pieces, in_features)).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, out_features * pieces).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        x = check_float_input(self, input, self.weight.dtype)
        check_last_dim(self, x, self.in_features)
        y, winner = F.maxout(x, self.weight.data, None if self.bias is None else self.bias.data, self.pieces)
        self.save_for_backward(x, winner)
        return y

    def backward(self, grad_output):
        x, winner = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, winner.shape, x.dtype)  # one winner per output unit
        grad_input, grad_weight, grad_bias = F.maxout_backward(grad_output, x, self.weight.data, winner, self.pieces,
                                                               self.bias is not None)
        self.accumulate_parameter_grads(weight=grad_weight, bias=grad_bias)
        return grad_input

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
                f"bias={self.bias is not None}")
