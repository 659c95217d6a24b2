"""manual: PyTorch's nn/optim API re-implemented in NumPy with hand-derived backward passes.

Never imports torch. `import manual.nn as nn` reads like `import torch.nn as nn`.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("backprop-crosscheck")  # the one source: pyproject.toml's [project] version
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from manual import data, gradcheck, nn, optim
from manual.inspection import summary
from manual.nn.grad_mode import no_grad
from manual.persistence import load, save
from manual.random import manual_seed

__all__ = ["__version__", "nn", "optim", "data", "manual_seed", "summary", "save", "load", "gradcheck", "no_grad"]
