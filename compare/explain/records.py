"""Per-module records of one training step, on both sides, keyed by the module's state_dict path.

torch: a forward hook and a full backward hook (`register_full_backward_hook`) on every submodule and on the
loss; each parameter's gradient is read once the backward is done. manual: the same module tree
(`named_modules`), so every submodule's `forward` and `backward` are wrapped (instance attributes, removed when
the block ends) to record what went in and out. The loss is recorded under the path `loss`, the model itself
under `` (shown as `(model)`). Orders: the order in which the modules' forwards and backwards *finished* on
the manual side (a leaf before its container); torch's backward hooks do not fire in a usable order where a
module's inputs need no gradient (token indices).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

LOSS = "loss"


@dataclass
class ModuleRecord:
    """What one module saw and gave in the recorded step (copies; None where a side has no such tensor)."""
    label: str
    inputs: tuple = ()
    outputs: list = field(default_factory=list)
    grad_outputs: list = field(default_factory=list)
    grad_inputs: list = field(default_factory=list)
    param_grads: dict = field(default_factory=dict)  # own parameters only: name -> gradient


@dataclass
class StepRecord:
    modules: dict = field(default_factory=dict)  # path -> ModuleRecord
    forward_order: list = field(default_factory=list)
    backward_order: list = field(default_factory=list)


def display(path: str) -> str:
    return path or "(model)"


def _copy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _as_list(value) -> list:
    return [_copy(v) for v in value] if isinstance(value, (tuple, list)) else [_copy(value)]


def _tree(model, loss_fn) -> list[tuple[str, Any]]:
    return [*model.named_modules(), (LOSS, loss_fn)]


@contextlib.contextmanager
def record_manual(model, loss_fn):
    """Yields a StepRecord that the manual modules' forwards and backwards fill in while the block runs."""
    record = StepRecord()
    wrapped = []
    for path, module in _tree(model, loss_fn):
        entry = record.modules.setdefault(path, ModuleRecord(module.label() if path else type(module).__name__))
        forward, backward = module.forward, module.backward

        def recorded_forward(*args, _f=forward, _e=entry, _p=path, **kwargs):
            _e.inputs = tuple(_copy(a) for a in args)
            output = _f(*args, **kwargs)
            _e.outputs = _as_list(output)
            record.forward_order.append(_p)
            return output

        def recorded_backward(*grads, _b=backward, _e=entry, _p=path):
            result = _b(*grads)
            _e.grad_outputs, _e.grad_inputs = [_copy(g) for g in grads], _as_list(result)
            record.backward_order.append(_p)
            return result

        object.__setattr__(module, "forward", recorded_forward)
        object.__setattr__(module, "backward", recorded_backward)
        wrapped.append(module)
    try:
        yield record
    finally:
        for module in wrapped:
            del module.__dict__["forward"], module.__dict__["backward"]


@contextlib.contextmanager
def record_torch(model: torch.nn.Module, loss_fn: torch.nn.Module):
    """Yields a StepRecord filled by hooks (`read_param_grads` adds the parameters' gradients)."""
    record = StepRecord()
    handles = []
    for path, module in _tree(model, loss_fn):
        entry = record.modules.setdefault(path, ModuleRecord(repr(module).split("\n")[0]))

        def forward_hook(module, args, output, _e=entry, _p=path):
            _e.inputs, _e.outputs = tuple(_copy(a) for a in args), _as_list(output)
            record.forward_order.append(_p)

        def backward_hook(module, grad_input, grad_output, _e=entry, _p=path):
            _e.grad_inputs, _e.grad_outputs = _as_list(grad_input), _as_list(grad_output)
            record.backward_order.append(_p)

        handles += [module.register_forward_hook(forward_hook), module.register_full_backward_hook(backward_hook)]
    try:
        with warnings.catch_warnings():  # "full backward hook is firing ... no inputs require gradients"
            warnings.simplefilter("ignore", UserWarning)
            yield record
    finally:
        for handle in handles:
            handle.remove()


def read_param_grads(record: StepRecord, model) -> None:
    """Each module's own parameters' gradients (either side), once the whole backward has run (before clipping)."""
    for path, module in model.named_modules():
        own = (module.named_parameters(recurse=False) if isinstance(module, torch.nn.Module)
               else ((name, p) for name, p in module._parameters.items() if p is not None))
        record.modules[path].param_grads = {name: _copy(p.grad) for name, p in own}
