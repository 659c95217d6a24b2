"""The course's models, built from manual.nn; `torch_ref.models` has the same classes, arguments and keys."""
from manual import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class LinearRegression(nn.Module):
    """O = X W_c + b (course) = x weightᵀ + bias (torch); state_dict keys `linear.weight`, `linear.bias`."""

    def __init__(self, in_features: int, out_features: int = 1, dtype=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, dtype=dtype)

    def forward(self, x):
        return self.linear(x)

    def backward(self, grad_output):
        return self.linear.backward(grad_output)


class SoftmaxRegression(LinearRegression):
    """Logits O = x weightᵀ + bias for `num_classes` classes; the softmax lives in CrossEntropyLoss."""

    def __init__(self, in_features: int, num_classes: int, dtype=None):
        super().__init__(in_features, num_classes, dtype=dtype)


class MLP(nn.Sequential):
    """Linear -> activation, once per hidden width, then a final Linear (logits / regression outputs).

    `MLP(4, [6, 7], 3, activation="relu")` is Sequential(Linear(4,6), ReLU, Linear(6,7), ReLU, Linear(7,3)),
    state_dict keys `0.weight, 0.bias, 2.weight, ...`, the same as `torch_ref.models.MLP`.
    """

    def __init__(self, in_features: int, hidden, out_features: int, activation: str = "relu", dtype=None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}, expected one of {sorted(ACTIVATIONS)}")
        layers, width = [], in_features
        for hidden_width in hidden:
            layers += [nn.Linear(width, hidden_width, dtype=dtype), ACTIVATIONS[activation]()]
            width = hidden_width
        super().__init__(*layers, nn.Linear(width, out_features, dtype=dtype))
