"""What torch.nn lacks, as torch.nn.Modules with the same signature and state_dict keys as in manual.nn."""
import math

import torch
from torch import nn
from torch.nn import functional as F


class Maxout(nn.Module):
    """y_j = max_k (x Wᵀ + b)_{j·pieces + k}: an affine map to out_features·pieces values, max over each group.

    weight: (out_features·pieces, in_features), bias: (out_features·pieces,), keys `weight`, `bias` (as
    manual.nn.Maxout). Layout: rows j·pieces ... j·pieces + pieces - 1 are the pieces of output unit j (the
    affine output viewed as (*, out_features, pieces)). Init: exactly torch's Linear(in_features,
    out_features·pieces) (kaiming_uniform_(a=√5) weight, then U(±1/√in_features) bias, same RNG draws).
    Ties: autograd of `max(dim)` sends the gradient to the index it returns, the FIRST maximal piece
    (`amax` would split it evenly between tied pieces); manual.nn.Maxout does the same.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features * pieces, in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features * pieces, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Linear.reset_parameters, verbatim in effect."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.linear(x, self.weight, self.bias)
        return z.view(*z.shape[:-1], self.out_features, self.pieces).max(dim=-1).values

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
                f"bias={self.bias is not None}")
