"""A layer torch lacks, written by hand as a user would: Swish with a learnable β per feature.

    y = x · σ(β x)            β: (num_features,), broadcast over the last dim of x (*, num_features)

Backward, with s = σ(β x) and σ' = s (1 - s):
    dy/dx = s + β x s (1 - s)                       dL/dx = g ⊙ dy/dx
    dy/dβ = x² s (1 - s)                            dL/dβ = Σ over all but the last dim of g ⊙ x² s (1 - s)

`Swish` is the manual layer (NumPy, the manual.nn.Module protocol); `TorchSwish` is its twin in torch, whose
autograd is the reference. tests: test_swish.py (three lines, through the `crosscheck` pytest fixture).
"""
import numpy as np
import torch

import manual.nn as mnn


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))  # σ(z) without overflow for large |z|


class Swish(mnn.Module):
    def __init__(self, num_features: int, beta: float = 1.0, dtype=None):
        super().__init__()
        self.beta = mnn.Parameter(np.full(num_features, beta, dtype=dtype or np.float32))

    def forward(self, input):
        s = sigmoid(self.beta.data * input)
        self.save_for_backward(input, s)
        return input * s

    def backward(self, grad_output):
        x, s = self.saved_for_backward()
        ds = s * (1 - s)
        grad_beta = (grad_output * x * x * ds).reshape(-1, x.shape[-1]).sum(axis=0)
        self.accumulate_parameter_grads(beta=grad_beta)
        return grad_output * (s + self.beta.data * x * ds)

    def extra_repr(self):
        return f"num_features={self.beta.shape[0]}"


class TorchSwish(torch.nn.Module):
    def __init__(self, num_features: int, beta: float = 1.0):
        super().__init__()
        self.beta = torch.nn.Parameter(torch.full((num_features,), beta))

    def forward(self, input):
        return input * torch.sigmoid(self.beta * input)
