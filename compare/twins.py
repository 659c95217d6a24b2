"""Build the torch and manual twins of a case from one spec, and move state between them."""
from dataclasses import dataclass

import numpy as np
import torch

import manual
import manual.models
import torch_ref.models

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def to_numpy(value):
    """Tensors (anywhere inside dicts/lists) as NumPy arrays on the CPU; everything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    return value


def to_torch(value, device, dtype=None):
    """NumPy arrays (anywhere inside dicts/lists) as tensors on `device`; float arrays cast to `dtype`."""
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(value).to(device)
        return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
    if isinstance(value, dict):
        return {k: to_torch(v, device, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(v, device, dtype) for v in value)
    return value


def cast_arrays(kwargs: dict, dtype) -> dict:
    """Float arrays in constructor arguments (loss weights) take the run's dtype, as torch requires."""
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for k, v in kwargs.items()}


@dataclass
class Twin:
    """One side of a run: model, loss function and optimizer."""
    model: object
    loss_fn: object
    optimizer: object


def build_twins(case, dtype: str, device: str, seed: int) -> tuple[Twin, Twin]:
    """(torch twin, manual twin) with identical weights: torch initialises, manual loads its state_dict."""
    torch.manual_seed(seed)
    (model_name, model_kwargs), (loss_name, loss_kwargs), (opt_name, opt_kwargs) = case.model, case.loss, case.optimizer
    torch_model = getattr(torch_ref.models, model_name)(**model_kwargs, device=device, dtype=TORCH_DTYPES[dtype])
    manual_model = getattr(manual.models, model_name)(**model_kwargs, dtype=dtype)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    loss_kwargs = cast_arrays(loss_kwargs, dtype)
    torch_twin = Twin(torch_model, getattr(torch.nn, loss_name)(**to_torch(loss_kwargs, device)),
                      getattr(torch.optim, opt_name)(torch_model.parameters(), **opt_kwargs))
    manual_twin = Twin(manual_model, getattr(manual.nn, loss_name)(**loss_kwargs),
                       getattr(manual.optim, opt_name)(manual_model.parameters(), **opt_kwargs))
    return torch_twin, manual_twin


def copy_torch_state_into_manual(torch_twin: Twin, manual_twin: Twin) -> None:
    """Parameters, buffers and optimizer state of torch loaded into manual (float32 re-sync, interchange)."""
    manual_twin.model.load_state_dict(to_numpy(torch_twin.model.state_dict()))
    manual_twin.optimizer.load_state_dict(to_numpy(torch_twin.optimizer.state_dict()))
