"""`manual.save(model, path)` / `manual.load(model, path)`: a model's state_dict as a NumPy `.npz` archive.

The archive holds one array per state_dict key ("0.weight", "1.running_mean", ...), in state_dict order,
with its dtype and shape, so a round trip is bit-identical. It is written to exactly `path` (no ".npz" is
appended) and read with `allow_pickle=False`, so loading a file runs no code. `load` goes through
`load_state_dict(strict=True)`: a missing or unexpected key, or a shape mismatch, raises and names the key;
values are cast to the model's dtypes, as torch's `load_state_dict` does, so a float32 archive loaded into a
float64 model is widened exactly (and the other way round rounded). `compare.convert` turns these archives
into torch `.pt` files and back.

The archive is written the way `np.savez` writes it (one uncompressed `KEY.npy` member per array), but by hand:
`np.savez(file, **state_dict)` cannot save a key named `file` or `allow_pickle` (its own parameters). Saving is
atomic (`manual.atomic`): a save that fails for any reason (a bad argument, `state_dict` raising, an array that
cannot be written, Ctrl-C, a full disk) leaves the file that was at `path` byte for byte as it was.
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from manual.atomic import atomic_write


def save(model, path: str | os.PathLike) -> None:
    """Write `model.state_dict()` to `path` as an uncompressed .npz archive."""
    save_state_dict(model.state_dict(), path)


def save_state_dict(state_dict, path: str | os.PathLike) -> None:
    """Write a state_dict (key -> array) to `path` as an uncompressed .npz archive, atomically."""
    arrays = {key: np.asarray(value) for key, value in state_dict.items()}
    with atomic_write(path) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The archive's arrays by key, in the order they were saved."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def load(model, path: str | os.PathLike):
    """Load the archive at `path` into `model` (strict) and return the model."""
    model.load_state_dict(load_state_dict(path))
    return model
