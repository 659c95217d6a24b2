"""manual.nn: torch.nn's modules with explicit forward and hand-derived backward passes (NumPy only)."""
from manual.nn import functional
from manual.nn.activation import ReLU, Sigmoid, Softmax, Tanh
from manual.nn.container import Sequential
from manual.nn.linear import Linear
from manual.nn.loss import CrossEntropyLoss, MSELoss
from manual.nn.module import Module, Parameter
from manual.nn import utils

__all__ = ["functional", "Module", "Parameter", "Sequential", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax",
           "MSELoss", "CrossEntropyLoss"]
