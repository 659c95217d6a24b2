"""manual.optim: torch.optim's algorithms as plain update functions over NumPy arrays."""
from manual.optim.optimizer import Optimizer
from manual.optim.sgd import SGD

__all__ = ["Optimizer", "SGD"]
