"""manual: PyTorch's nn/optim API re-implemented in NumPy with hand-derived backward passes.

Never imports torch. `import manual.nn as nn` reads like `import torch.nn as nn`.
"""
from manual import nn, optim
from manual.random import manual_seed

__all__ = ["nn", "optim", "manual_seed"]
