"""Activation modules, torch's names and arguments; the math and its derivation are in `functional.activation`
(elementwise) and `functional.softmax`. Every module keeps only what its derivative needs: the output y for
Sigmoid, Tanh, ReLU, Softmax and LogSoftmax, the input x for the others (as torch's backward kernels), only the
shape for Identity. What is kept is read-only until the backward (`Module.save_for_backward`).

`inplace=` is accepted for signature parity with torch; manual always returns a new array (same values).
"""
from collections.abc import Callable

import numpy as np

from manual.nn import functional as F
from manual.nn._checks import FLOAT_DTYPES, check_float_input, check_grad_output, kept_on_refusal, wrap_dim
from manual.nn.module import Module


class _Elementwise(Module):
    """y = function(x, **arguments()); dL/dx = derivative(g, saved, **arguments()), saved = y or x."""

    # subclasses set their own pair; the extra keyword arguments (alpha, beta, ...) vary per activation
    function: Callable[..., np.ndarray] = staticmethod(F.identity)
    derivative: Callable[..., np.ndarray] = staticmethod(F.identity_backward)
    saves_output = False

    def arguments(self) -> dict:
        return {}

    def forward(self, input):
        if type(input) is not np.ndarray or input.dtype not in FLOAT_DTYPES:
            check_float_input(self, input)  # raises (the common case skips the call)
        y = self.function(input, **self.arguments())
        self.save_for_backward(y if self.saves_output else input)
        return y

    def backward(self, grad_output):
        (saved,) = self.saved_for_backward()
        if type(grad_output) is not np.ndarray or grad_output.shape != saved.shape or grad_output.dtype != saved.dtype:
            with kept_on_refusal(self, (saved,)):  # saved (x or y) has the output's shape and dtype
                grad_output = check_grad_output(self, grad_output, saved.shape, saved.dtype)
        return self.derivative(grad_output, saved, **self.arguments())

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.arguments().items())


class Identity(_Elementwise):
    """y = x; dL/dx = g. Any constructor arguments are ignored, as torch's nn.Identity.

    Keeps only the shape (for the grad_output check): y is x itself, which the caller owns."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        x = check_float_input(self, input)
        self.save_for_backward(x.shape, x.dtype)
        return input

    def backward(self, grad_output):
        shape, dtype = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            return check_grad_output(self, grad_output, shape, dtype)


class ReLU(_Elementwise):
    """y = max(x, 0); dL/dx = g ⊙ [y > 0] (torch's subgradient 0 at x = 0)."""
    function, derivative, saves_output = staticmethod(F.relu), staticmethod(F.relu_backward), True
    kinks = (0.0,)

    def __init__(self, inplace: bool = False):
        super().__init__()


class LeakyReLU(_Elementwise):
    """y = x if x > 0 else s·x; dL/dx = g if x > 0 else s·g (s at x = 0, torch's choice).

    The course writes LeakyReLU as max(0.1x, x): that is LeakyReLU(negative_slope=0.1); max(s·x, x) equals
    this definition for every 0 <= s <= 1. torch's default slope is 0.01.
    """
    function, derivative = staticmethod(F.leaky_relu), staticmethod(F.leaky_relu_backward)
    kinks = (0.0,)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def arguments(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """y = x if x > 0 else α(e^x - 1); dL/dx = g if x > 0 else g·α·e^x (= g·(y + α)); α at x = 0."""
    function, derivative = staticmethod(F.elu), staticmethod(F.elu_backward)
    kinks = (0.0,)  # the slope jumps from α to 1 (for α = 1 only the second derivative does)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha

    def arguments(self):
        return {"alpha": self.alpha}


class SELU(_Elementwise):
    """y = λ·ELU_α(x), α = 1.6732632423543772, λ = 1.0507009873554805 (self-normalising constants);
    dL/dx = g·λ if x > 0 else g·λα·e^x."""
    function, derivative = staticmethod(F.selu), staticmethod(F.selu_backward)
    kinks = (0.0,)

    def __init__(self, inplace: bool = False):
        super().__init__()


class GELU(_Elementwise):
    """y = x·Φ(x) (approximate='none', Φ the standard normal CDF via erf) or ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    (approximate='tanh'); dL/dx = g·(Φ(x) + x·φ(x)) resp. the tanh form's derivative (functional.gelu_backward)."""
    function, derivative = staticmethod(F.gelu), staticmethod(F.gelu_backward)

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def arguments(self):
        return {"approximate": self.approximate}


class SiLU(_Elementwise):
    """y = x·σ(x); dL/dx = g·σ(x)(1 + x(1 - σ(x)))."""
    function, derivative = staticmethod(F.silu), staticmethod(F.silu_backward)

    def __init__(self, inplace: bool = False):
        super().__init__()


class Softplus(_Elementwise):
    """y = log(1 + e^(βx))/β, or x where βx > threshold; dL/dx = g·σ(βx), or g on the linear branch."""
    function, derivative = staticmethod(F.softplus), staticmethod(F.softplus_backward)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def arguments(self):
        return {"beta": self.beta, "threshold": self.threshold}


class Sigmoid(_Elementwise):
    """y = 1/(1+e^(-x)); dL/dx = g ⊙ y(1-y). Saturates: y(1-y) <= 1/4, the root of vanishing gradients."""
    function, derivative, saves_output = staticmethod(F.sigmoid), staticmethod(F.sigmoid_backward), True


class Tanh(_Elementwise):
    """y = tanh x; dL/dx = g ⊙ (1 - y²)."""
    function, derivative, saves_output = staticmethod(F.tanh), staticmethod(F.tanh_backward), True


class Softmax(Module):
    """y_i = e^(x_i) / Σ_j e^(x_j) along `dim`; dL/dx = y ⊙ (g - Σ_i g_i y_i).

    Pass `dim`, as in torch; without it torch's deprecated implicit choice is used, with its warning.
    """
    function, derivative = staticmethod(F.softmax), staticmethod(F.softmax_backward)

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        check_float_input(self, input)
        dim = self.dim if self.dim is not None else F.implicit_softmax_dim(input.ndim)
        y = self.function(input, wrap_dim(self, dim, input.ndim))
        self.save_for_backward(y, dim)
        return y

    def backward(self, grad_output):
        y, dim = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, y.shape, y.dtype)
        return self.derivative(grad_output, y, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y_i = x_i - log Σ_j e^(x_j) along `dim` (max-shifted); dL/dx = g - softmax(x)·Σ_i g_i, softmax = e^y.

    Pair with NLLLoss; LogSoftmax + NLLLoss = CrossEntropyLoss on the logits.
    """
    function, derivative = staticmethod(F.log_softmax), staticmethod(F.log_softmax_backward)
