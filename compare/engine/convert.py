"""Move weights between the backends: manual state_dicts (NumPy) <-> torch state_dicts and `.pt` files.

Both backends use the same keys, shapes and dtypes (DESIGN.md), so conversion is only a change of container:
every array is copied with its dtype and bytes unchanged (float32 stays float32, an int64 0-d
`num_batches_tracked` stays int64 0-d), and every round trip (manual -> torch -> .pt -> torch -> manual,
manual -> .npz -> manual) is bit-identical. `.pt` files hold a plain state_dict of CPU tensors and are read
with `torch.load(weights_only=True)`, so loading runs no code; `torch_model.load_state_dict(torch.load(path))`
reads them too.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import torch

from manual import persistence
from manual.atomic import atomic_write


def to_torch_state_dict(state_dict) -> OrderedDict[str, torch.Tensor]:
    """NumPy arrays (a manual state_dict) as CPU tensors that own their memory, same dtypes and bytes."""
    return OrderedDict((key, torch.from_numpy(np.array(value, copy=True))) for key, value in state_dict.items())


def to_numpy_state_dict(state_dict) -> OrderedDict[str, np.ndarray]:
    """Tensors (a torch state_dict, on any device) as NumPy arrays, same dtypes and bytes."""
    return OrderedDict((key, value.detach().cpu().numpy().copy()) for key, value in state_dict.items())


def manual_to_torch(manual_model, torch_model: torch.nn.Module) -> torch.nn.Module:
    """Load the manual model's parameters and buffers into its torch twin (strict); returns the torch model."""
    device = next(torch_model.parameters(), torch.empty(0)).device
    torch_model.load_state_dict({k: v.to(device) for k, v in to_torch_state_dict(manual_model.state_dict()).items()})
    return torch_model


def torch_to_manual(torch_model: torch.nn.Module, manual_model):
    """Load the torch model's parameters and buffers into its manual twin (strict); returns the manual model."""
    manual_model.load_state_dict(to_numpy_state_dict(torch_model.state_dict()))
    return manual_model


def _save_pt(state_dict, path: str | os.PathLike) -> None:
    """torch.save, atomically (manual.atomic): a failed save leaves the file at `path` as it was."""
    with atomic_write(path) as file:
        torch.save(state_dict, file)


def save_pt(manual_model, path: str | os.PathLike) -> None:
    """Write a manual model's state_dict as a torch `.pt` file (CPU tensors)."""
    _save_pt(to_torch_state_dict(manual_model.state_dict()), path)


def load_pt(manual_model, path: str | os.PathLike):
    """Load a torch `.pt` state_dict file into a manual model (strict); returns the manual model."""
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    manual_model.load_state_dict(to_numpy_state_dict(state_dict))
    return manual_model


def npz_to_pt(npz_path: str | os.PathLike, pt_path: str | os.PathLike) -> None:
    """Convert a `manual.save` archive into a torch `.pt` state_dict file."""
    _save_pt(to_torch_state_dict(persistence.load_state_dict(npz_path)), pt_path)


def pt_to_npz(pt_path: str | os.PathLike, npz_path: str | os.PathLike) -> None:
    """Convert a torch `.pt` state_dict file into an archive that `manual.load` reads."""
    persistence.save_state_dict(to_numpy_state_dict(torch.load(pt_path, map_location="cpu", weights_only=True)),
                                npz_path)
