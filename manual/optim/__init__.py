"""manual.optim: torch.optim's algorithms as plain update functions over NumPy arrays, plus lr schedulers."""
from manual.optim import lr_scheduler
from manual.optim.adagrad import Adagrad
from manual.optim.adam import Adam
from manual.optim.adamw import AdamW
from manual.optim.optimizer import Optimizer
from manual.optim.rmsprop import RMSprop
from manual.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
