"""compare: runs manual and torch side by side on the same weights and batches, step by step.

The only package that imports both `manual` and `torch_ref`/`torch`.
"""
from manual import __version__  # one version for the three packages (pyproject.toml)

__all__ = ["__version__"]
