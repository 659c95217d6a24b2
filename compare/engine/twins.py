"""Build the torch and manual twins of a case from one spec, run one training step on each, and move state
between them."""
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import manual
import manual.models
import manual.nn.utils
import manual.optim.lr_scheduler
import torch_ref.models
import torch_ref.nn
from compare import registry

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


METRIC_SCHEDULERS = ("ReduceLROnPlateau",)  # their step() takes the loss


@dataclass
class Twin:
    """One side of a run: model, loss function and optimizer; optionally gradient clipping and an lr scheduler.

    The same class holds either side: torch's objects (torch.nn.Module, torch.optim.Optimizer, ...) or manual's
    (manual.nn.Module, manual.optim.Optimizer, ...), which share no base class; the step functions call each
    side's own API on them (duck typing), hence `Any`."""
    model: Any
    loss_fn: Any
    optimizer: Any
    scheduler: Any = None
    clip: Callable | None = None  # clip(parameters), e.g. clip_grad_norm_ with the case's arguments bound

    def optimizer_step(self, loss) -> None:
        """After backward: clip the gradients, step the optimizer, then step the scheduler (torch's order)."""
        if self.clip is not None:
            self.clip(self.model.parameters())
        self.optimizer.step()
        if self.scheduler is not None:
            needs_metric = type(self.scheduler).__name__ in METRIC_SCHEDULERS
            metric = loss.detach() if isinstance(loss, torch.Tensor) else loss
            self.scheduler.step(*([float(metric)] if needs_metric else []))



def synchronize(device: str) -> None:
    """Wait until the GPU has run what was queued (for timings and the end of a step); nothing on the CPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def manual_step(twin: Twin, x: np.ndarray, y: np.ndarray):
    """One training step of the manual twin: (output, loss, dL/dx, None when its first layer skips it)."""
    twin.optimizer.zero_grad()
    output = twin.model(x)
    loss = twin.loss_fn(output, y)
    grad_input = twin.model.backward(twin.loss_fn.backward())
    twin.optimizer_step(loss)
    return output, loss, grad_input


def clear_grads(optimizer) -> None:
    """`optimizer.zero_grad()`. For an optimizer that keeps torch's own (set_to_none, its default), what it does:
    every parameter of the optimizer's groups drops its .grad, in the same order; without the profiler scope and
    the torch._dynamo guard torch wraps it in (8 µs of a small step's ~300, on every torch and float64 reference
    step). An optimizer class that overrides zero_grad (a registered one) has it called."""
    if type(optimizer).zero_grad is not torch.optim.Optimizer.zero_grad:
        optimizer.zero_grad()
        return
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = None


def torch_step(twin: Twin, x: np.ndarray, y: np.ndarray, device: str, input_grad: bool = False):
    """The same step of the torch twin on a NumPy batch: (output, loss, dL/dx). dL/dx is computed only with
    `input_grad` (the harness compares it) and x is float; otherwise it is None, as for data in training."""
    x_t = torch.from_numpy(x).to(device)
    x_t.requires_grad_(input_grad and x_t.is_floating_point())  # integer inputs (token indices) have no gradient
    clear_grads(twin.optimizer)
    output = twin.model(x_t)
    loss = twin.loss_fn(output, torch.from_numpy(y).to(device))
    loss.backward()
    twin.optimizer_step(loss)
    synchronize(device)
    return output, loss, x_t.grad

def _extras(case, optimizer, scheduler_module, clip_module) -> dict:
    """The case's optional scheduler and clipping, looked up by the same name on each side."""
    extras = {}
    if getattr(case, "scheduler", None) is not None:
        name, kwargs = case.scheduler
        extras["scheduler"] = getattr(scheduler_module, name)(optimizer, **kwargs)
    if getattr(case, "clip", None) is not None:
        name, kwargs = case.clip
        extras["clip"] = functools.partial(getattr(clip_module, name), **kwargs)
    return extras


# kind -> (manual's namespace, torch's namespaces in lookup order, the registry's table)
NAMESPACES = {
    "model": (manual.models, (torch_ref.models,), registry.module_classes),
    "module": (manual.nn, (torch.nn, torch_ref.nn), registry.module_classes),  # layers and losses
    "optimizer": (manual.optim, (torch.optim,), registry.optimizer_classes),
}


def classes(kind: str, name: str) -> tuple:
    """(manual class, torch class) for the `kind` ("model", "module" or "optimizer") named `name`: what
    compare.registry holds, else the classes of that name in the kind's namespaces (manual.models /
    torch_ref.models; manual.nn / torch.nn, then torch_ref.nn for what torch.nn lacks; manual.optim / torch.optim).
    The one name -> class lookup of compare; a LookupError names each namespace that lacks the class."""
    manual_namespace, torch_namespaces, registered = NAMESPACES[kind]
    found = registered(name)
    if found:
        return found
    manual_cls = getattr(manual_namespace, name, None)
    torch_cls = next((getattr(namespace, name) for namespace in torch_namespaces
                      if inspect.isclass(getattr(namespace, name, None))), None)
    missing = ([manual_namespace.__name__] if not inspect.isclass(manual_cls) else []) + (
        [" or ".join(namespace.__name__ for namespace in torch_namespaces)] if torch_cls is None else [])
    if missing:
        raise LookupError(f"{name}: no such class in compare.registry, nor in {', nor in '.join(missing)}")
    return manual_cls, torch_cls


def seed_torch(seed: int, device: str = "cpu") -> None:
    """`torch.manual_seed(seed)` for a run on `device`. On the CPU only the CPU generator draws, and it is seeded
    alone (the same stream): torch.manual_seed also queues the seed for CUDA, and while CUDA is not initialised it
    saves the caller's Python stack with it, 0.2 ms a call, a few hundred calls in the main job."""
    if device == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def build_twins(case, dtype: str, device: str, seed: int) -> tuple[Twin, Twin]:
    """(torch twin, manual twin) with identical weights: torch initialises, manual loads its state_dict."""
    seed_torch(seed, device)
    (model_name, model_kwargs), (loss_name, loss_kwargs), (opt_name, opt_kwargs) = case.model, case.loss, case.optimizer
    manual_model_cls, torch_model_cls = classes("model", model_name)
    manual_loss_cls, torch_loss_cls = classes("module", loss_name)
    manual_opt_cls, torch_opt_cls = classes("optimizer", opt_name)
    torch_model = torch_model_cls(**model_kwargs, device=device, dtype=TORCH_DTYPES[dtype])
    manual_model = manual_model_cls(**model_kwargs, dtype=dtype)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    loss_kwargs = cast_arrays(loss_kwargs, dtype)
    torch_opt = torch_opt_cls(torch_model.parameters(), **opt_kwargs)
    manual_opt = manual_opt_cls(manual_model.parameters(), **opt_kwargs)
    torch_twin = Twin(torch_model, torch_loss_cls(**to_torch(loss_kwargs, device)), torch_opt,
                      **_extras(case, torch_opt, torch.optim.lr_scheduler, torch.nn.utils))
    manual_twin = Twin(manual_model, manual_loss_cls(**loss_kwargs), manual_opt,
                       **_extras(case, manual_opt, manual.optim.lr_scheduler, manual.nn.utils))
    return torch_twin, manual_twin


def optimizer_state_to_manual(torch_state_dict: dict) -> dict:
    """torch's optimizer.state_dict() for manual's load_state_dict: tensors as arrays (`step` stays float32)."""
    return to_numpy(torch_state_dict)


def optimizer_state_to_torch(manual_state_dict: dict, torch_optimizer) -> dict:
    """manual's optimizer.state_dict() for `torch_optimizer.load_state_dict`.

    State arrays become tensors (torch's load_state_dict then casts them to each parameter's dtype and
    device); `step` becomes a 0-d float32 tensor on the CPU, where torch keeps it (it is not moved on load).
    Each group is completed with any key of `torch_optimizer`'s own groups that manual's lack (none in torch
    2.13: manual's groups hold torch's `foreach`, `fused`, ... flags too; a newer torch may add some).
    """
    state = {index: {name: torch.tensor(float(value), dtype=torch.float32) if name == "step"
                     else torch.from_numpy(np.array(value, copy=True))
                     for name, value in entries.items()}
             for index, entries in manual_state_dict["state"].items()}
    groups = [{**{k: v for k, v in own.items() if k != "params"}, **saved}
              for own, saved in zip(torch_optimizer.state_dict()["param_groups"], manual_state_dict["param_groups"],
                                    strict=True)]
    return {"state": state, "param_groups": groups}


def copy_torch_state_into_manual(torch_twin: Twin, manual_twin: Twin) -> None:
    """Parameters, buffers, optimizer state and scheduler state of torch loaded into manual (float32 re-sync,
    interchange)."""
    manual_twin.model.load_state_dict(to_numpy(torch_twin.model.state_dict()))
    manual_twin.optimizer.load_state_dict(optimizer_state_to_manual(torch_twin.optimizer.state_dict()))
    if manual_twin.scheduler is not None:
        manual_twin.scheduler.load_state_dict(torch_twin.scheduler.state_dict())


def copy_manual_state_into_torch(manual_twin: Twin, torch_twin: Twin, device: str = "cpu") -> None:
    """Parameters, buffers, optimizer state and scheduler state of manual loaded into torch (interchange)."""
    torch_twin.model.load_state_dict(to_torch(manual_twin.model.state_dict(), device))
    torch_twin.optimizer.load_state_dict(optimizer_state_to_torch(manual_twin.optimizer.state_dict(),
                                                                  torch_twin.optimizer))
    if torch_twin.scheduler is not None:
        torch_twin.scheduler.load_state_dict(manual_twin.scheduler.state_dict())


def optimizer_state(optimizer, names: list[str], state: dict | None = None) -> dict:
    """Every optimizer-state tensor by parameter name, and each group's current lr (schedulers change it); live
    values, read straight from `optimizer.state` (torch's and manual's are both keyed by parameter), or from
    `state`, a copy of it keyed alike."""
    state = optimizer.state if state is None else state
    values = {f"state.group{i}.lr": group["lr"] for i, group in enumerate(optimizer.param_groups)}
    index = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in state.get(param, {}).items():
                values[f"state.{names[index]}.{key}"] = value
            index += 1
    return values
