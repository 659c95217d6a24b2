"""Linear layer: parameters + a call into `functional.linear` (math and derivation live there)."""
import math

import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import (
    check_float_input,
    check_grad_output,
    check_last_dim,
    kept_on_refusal,
    resolve_dtype,
    wrap_dim,
)
from manual.nn.module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b, as `torch.nn.Linear(in_features, out_features, bias=True, dtype=None)`.

    weight: (out_features, in_features), bias: (out_features,). The course's O = X W_c + b uses
    W_c = weightᵀ of shape (in, out): `model.weight.data.T` is the course's W.
    Init (torch's kaiming_uniform_(a=√5)): weight and bias ~ U(-1/√in_features, 1/√in_features).
    Backward: dL/dx = G W, dL/dW = Gᵀ X, dL/db = Σ_rows G (derived in `functional.linear`).

    `needs_input_grad`: torch computes dL/dx only when x requires grad, and data does not. A NumPy array
    carries no such flag, so the layer that reads the data (the first of a network) is told instead:
    `model[0].needs_input_grad = False` skips the product G W (a third of that layer's backward) and its
    backward returns None.
    """

    needs_input_grad = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = resolve_dtype(dtype)
        bound = 1 / np.sqrt(in_features) if in_features > 0 else 0.0
        rng = random.generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        weight, bias = self.weight.data, self.bias
        if type(input) is not np.ndarray or input.dtype != weight.dtype or input.shape[-1:] != (self.in_features,):
            check_float_input(self, input, weight.dtype)  # raise, naming the layer (only a bad input gets here)
            check_last_dim(self, input, self.in_features)
        self.save_for_backward(input)
        return F.linear(input, weight, None if bias is None else bias.data)

    def backward(self, grad_output):
        (x,) = self.saved_for_backward()
        output_shape = x.shape[:-1] + (self.out_features,)
        if type(grad_output) is not np.ndarray or grad_output.shape != output_shape or grad_output.dtype != x.dtype:
            with kept_on_refusal(self, (x,)):  # a wrong shape raises, another real dtype is cast, as autograd does
                grad_output = check_grad_output(self, grad_output, output_shape, x.dtype)
        grad_input, grad_weight, grad_bias = F.linear_backward(grad_output, x, self.weight.data,
                                                               self.bias is not None, self.needs_input_grad)
        self.accumulate_parameter_grads(weight=grad_weight, bias=grad_bias)
        return grad_input

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Reshape dims start_dim..end_dim into one, as `torch.nn.Flatten(start_dim=1, end_dim=-1)`: (N, C, L) -> (N, C·L).

    A reshape moves no values, so the backward is the inverse reshape: dL/dx = g reshaped to x's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        x = check_float_input(self, input)
        start, end = (wrap_dim(self, d, x.ndim) for d in (self.start_dim, self.end_dim))
        if x.ndim and start > end:
            raise ValueError(f"{self.label()}: flatten() has invalid args: start_dim cannot come after end_dim "
                             f"for an input of shape {x.shape}")
        y = x.reshape(1) if x.ndim == 0 else x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),)
                                                        + x.shape[end + 1:])
        self.save_for_backward(x.shape, y.shape, x.dtype)
        return y

    def backward(self, grad_output):
        shape, output_shape, dtype = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, output_shape, dtype)
        return grad_output.reshape(shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
