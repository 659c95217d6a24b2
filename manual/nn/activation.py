"""Activation modules: each keeps what its derivative needs (see `functional.activation` for the math)."""
from manual.nn import functional as F
from manual.nn._checks import check_float_input
from manual.nn.module import Module


class ReLU(Module):
    """y = max(x, 0); dL/dx = g ⊙ [y > 0] (torch's subgradient 0 at x = 0)."""

    def forward(self, x):
        y = F.relu(check_float_input(self.label(), x))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward()
        return F.relu_backward(grad_output, y)


class Sigmoid(Module):
    """y = 1/(1+e^(-x)); dL/dx = g ⊙ y(1-y). Saturates: y(1-y) <= 1/4, the root of vanishing gradients."""

    def forward(self, x):
        y = F.sigmoid(check_float_input(self.label(), x))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward()
        return F.sigmoid_backward(grad_output, y)


class Tanh(Module):
    """y = tanh x; dL/dx = g ⊙ (1 - y²)."""

    def forward(self, x):
        y = F.tanh(check_float_input(self.label(), x))
        self.save_for_backward(y)
        return y

    def backward(self, grad_output):
        (y,) = self.saved_for_backward()
        return F.tanh_backward(grad_output, y)


class Softmax(Module):
    """y_i = e^(x_i) / Σ_j e^(x_j) along `dim`; dL/dx = y ⊙ (g - Σ_i g_i y_i).

    Pass `dim`, as in torch; without it torch's deprecated implicit choice is used, with its warning.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        check_float_input(self.label(), x)
        dim = self.dim if self.dim is not None else F.implicit_softmax_dim(x.ndim)
        y = F.softmax(x, dim)
        self.save_for_backward(y, dim)
        return y

    def backward(self, grad_output):
        y, dim = self.saved_for_backward()
        return F.softmax_backward(grad_output, y, dim)

    def extra_repr(self):
        return f"dim={self.dim}"
