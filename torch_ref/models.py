"""The same model classes as manual.models, as torch.nn.Modules on any device and dtype."""
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class LinearRegression(nn.Module):
    """O = x weightᵀ + bias; state_dict keys `linear.weight`, `linear.bias`."""

    def __init__(self, in_features: int, out_features: int = 1, device=None, dtype=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SoftmaxRegression(LinearRegression):
    """Logits for `num_classes` classes; pair with nn.CrossEntropyLoss."""

    def __init__(self, in_features: int, num_classes: int, device=None, dtype=None):
        super().__init__(in_features, num_classes, device=device, dtype=dtype)


class MLP(nn.Sequential):
    """Linear -> activation per hidden width, then a final Linear; keys `0.weight, 0.bias, 2.weight, ...`."""

    def __init__(self, in_features: int, hidden, out_features: int, activation: str = "relu", device=None,
                 dtype=None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}, expected one of {sorted(ACTIVATIONS)}")
        layers, width = [], in_features
        for hidden_width in hidden:
            layers += [nn.Linear(width, hidden_width, device=device, dtype=dtype), ACTIVATIONS[activation]()]
            width = hidden_width
        super().__init__(*layers, nn.Linear(width, out_features, device=device, dtype=dtype))
