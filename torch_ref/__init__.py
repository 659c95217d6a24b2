"""torch_ref: the course's models as plain torch.nn.Modules (CPU or CUDA), plus what torch.nn lacks.

Never imports manual; `torch_ref.models.X(...)` takes the same arguments as `manual.models.X(...)` and has the
same state_dict keys, plus torch's usual `device`/`dtype`. `torch_ref.nn` holds the layers torch.nn lacks (Maxout);
`torch_ref.summary` mirrors `manual.summary`.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("backprop-crosscheck")  # the one source: pyproject.toml's [project] version
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from torch_ref import models, nn
from torch_ref.inspection import summary

__all__ = ["__version__", "nn", "models", "summary"]
