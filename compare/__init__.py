"""compare: runs manual and torch side by side on the same weights and batches, step by step.

The only package that imports both `manual` and `torch_ref`/`torch`.
"""


def __getattr__(name: str):
    """`compare.__version__`: manual's, one version for the three packages (pyproject.toml), read when asked for, so
    that `import compare` imports nothing and `python -m compare` starts its workers' server before NumPy loads."""
    if name == "__version__":
        from manual import __version__
        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__"]
