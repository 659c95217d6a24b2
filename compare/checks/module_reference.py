"""The float64 reference of a module check (compare/checks/module_check.py): torch's module copied to float64, called
on the same arguments upcast, with the same upstream gradients; its values set the float32 error model's spread
(compare/engine/tolerances.py), as the training steps' reference does (compare/engine/reference.py)."""
import numpy as np
import torch

from compare.engine.reference import float64_model, upcast
from manual.gradcheck import flat_outputs


def torch_forward(module, arrays, target: bool) -> tuple:
    """(input tensors, output tensors) of `module(*arrays)` in torch: every float input a leaf that requires grad
    (integer inputs and the target, the last array when `target`, none)."""
    tensors = [torch.from_numpy(np.asarray(a)) for a in arrays]
    inputs = tensors[:-1] if target else tensors
    for tensor in inputs:
        tensor.requires_grad_(tensor.is_floating_point())
    return inputs, tuple(flat_outputs(module(*tensors)))  # nested ones (LSTM's (output, (h_n, c_n))) in order


def torch_backward(outputs, grad_outputs) -> None:
    """Backward from every output that depends on a leaf, each with its dL/d(output) (None: a 0-d loss's 1)."""
    differentiable = [(out, grad) for out, grad in zip(outputs, grad_outputs, strict=True) if out.requires_grad]
    if differentiable:
        torch.autograd.backward([out for out, _ in differentiable],
                                [None if grad is None else torch.from_numpy(grad) for _, grad in differentiable])


class ModuleReference:
    """One module or loss in float64 from a float32 torch module's state (compare/checks/module_check.py); build it
    before the float32 forward, so that a Dropout replays the mask that forward draws."""

    def __init__(self, torch_module: torch.nn.Module):
        self.module, self.relays = float64_model(torch_module)

    def values(self, arguments: tuple, target: bool, grad_outputs: tuple, input_names: list[str]) -> dict:
        """The float64 value of every compared tensor (named as compare/checks/module_check.py names them: output or
        output.k, grad.<input name>, grad.<param>, buffer.<name>) for the same arguments (the target last when
        `target`) and grad_outputs."""
        inputs, outputs = torch_forward(self.module, [upcast(np.asarray(a)) for a in arguments], target)
        torch_backward(outputs, [None if g is None else upcast(g) for g in grad_outputs])
        names = ["output"] if len(outputs) == 1 else [f"output.{i}" for i in range(len(outputs))]
        values = dict(zip(names, outputs, strict=True))
        values.update((f"grad.{name}", torch.zeros_like(t) if t.grad is None else t.grad)
                      for name, t in zip(input_names, inputs, strict=True) if t.is_floating_point())
        values.update((f"grad.{n}", p.grad) for n, p in self.module.named_parameters())
        values.update((f"buffer.{n}", b) for n, b in self.module.named_buffers())
        return values
