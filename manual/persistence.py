"""`manual.save(model, path)` / `manual.load(model, path)`: a model's state_dict as a NumPy `.npz` archive.

The archive holds one array per state_dict key ("0.weight", "1.running_mean", ...), in state_dict order,
with its dtype and shape, so a round trip is bit-identical. It is written to exactly `path` (no ".npz" is
appended) and read with `allow_pickle=False`, so loading a file runs no code. `load` goes through
`load_state_dict(strict=True)`: a missing or unexpected key, or a shape mismatch, raises and names the key;
values are cast to the model's dtypes, as torch's `load_state_dict` does, so a float32 archive loaded into a
float64 model is widened exactly (and the other way round rounded). `compare.convert` turns these archives
into torch `.pt` files and back.
"""
from __future__ import annotations

import os

import numpy as np


def save(model, path: str | os.PathLike) -> None:
    """Write `model.state_dict()` to `path` as an uncompressed .npz archive."""
    with open(path, "wb") as f:
        np.savez(f, **model.state_dict())


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The archive's arrays by key, in the order they were saved."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def load(model, path: str | os.PathLike):
    """Load the archive at `path` into `model` (strict) and return the model."""
    model.load_state_dict(load_state_dict(path))
    return model
