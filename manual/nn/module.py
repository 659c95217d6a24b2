"""Parameter and Module: torch.nn.Module's bookkeeping (names, state_dict, train/eval), without autograd.

Protocol of every module:
- `forward(input)` computes the output and keeps exactly what `backward` needs (`save_for_backward`);
- `backward(grad_output)` returns dL/d(input) and adds dL/d(parameter) into each `Parameter.grad`
  (creating it when it is None), so gradients accumulate until `zero_grad()`, as in torch;
- `kinks`: the input values where the module is not differentiable in its (first) input, elementwise (ReLU,
  LeakyReLU, a PReLU: (0.0,); a clamp: (min, max)); empty by default. The finite-difference check
  (manual.gradcheck) keeps its steps clear of them;
- a `backward` with no matching `forward` (none yet, a second one for the same forward, or a forward run
  under `manual.no_grad()`) raises.

Saved arrays are read-only until their backward (torch's saved-tensor version check, in O(1)):
`save_for_backward` marks every ndarray it is given read-only (`flags.writeable = False`), so an in-place
edit of a saved input or output between forward and backward raises at the write ("assignment destination
is read-only") instead of giving a wrong gradient. The lock is released when backward consumes the saved
values, when the module's next forward replaces them, or at a forward under `manual.no_grad()` (which saves
and locks nothing). Limits: an edit through another view of the same memory is not seen; outside `no_grad`
a forward that is never followed by a backward keeps its arrays locked until the module's next forward.
Details: `manual.nn.grad_mode` and docs/INPLACE.md.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator

import numpy as np

from manual.nn import grad_mode
from manual.nn._checks import resolve_dtype

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter:
    """A trainable array: `.data` holds the value, `.grad` the accumulated dL/d(data) or None.

    The data must be floating point (torch: "Only Tensors of floating point and complex dtype can require
    gradients"; manual has no complex arithmetic, so complex is refused too). It is copied into a plain ndarray
    (an np.matrix becomes 2-d array semantics; a masked array is refused, its mask would be dropped).
    """

    def __init__(self, data):
        if isinstance(data, np.ma.MaskedArray):
            raise TypeError("Parameter: masked arrays are not supported (the mask would be ignored); "
                            "pass a plain numpy.ndarray")
        self.data = np.array(data, copy=True)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter: only floating point data can require gradients, got dtype {self.data.dtype}")
        self.grad: np.ndarray | None = None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def accumulate_grad(self, grad: np.ndarray, *, fresh: bool = False) -> None:
        """`p.grad += grad`, creating `p.grad` (owning its memory) on the first call, like autograd.

        On the first call `grad` is copied, since the caller may still hold it; `fresh=True` promises it was
        computed for this call alone (a new product or sum), so it becomes `p.grad` without a copy (autograd's
        AccumulateGrad likewise takes over a gradient nothing else references).
        """
        if grad.shape != self.data.shape or grad.dtype != self.data.dtype:
            raise ValueError(f"gradient of shape {grad.shape} / {grad.dtype} for a parameter of shape "
                             f"{self.data.shape} / {self.data.dtype}")
        if self.grad is None:
            self.grad = grad if fresh else np.array(grad, copy=True)
        else:
            self.grad += grad

    def clear_grad(self, set_to_none: bool = True) -> None:
        """zero_grad for this parameter: drop `.grad` (torch's default) or fill it with zeros."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            self.grad.fill(0)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of all manual layers, losses and models; mirrors torch.nn.Module's naming rules."""

    training: bool
    kinks: tuple[float, ...] = ()  # input values where the module is not differentiable (module docstring)

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_saved", None)
        object.__setattr__(self, "_locked", ())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------------------------
    # Parameters, buffers and submodules are listed in their tables (`_parameters`, `_buffers`, `_modules`:
    # names, order, state_dict) and are also plain instance attributes, so `self.weight` is a dict lookup
    # rather than a failed lookup plus `__getattr__` (about 0.8 µs, several times per layer and step).
    # Every assignment goes through `__setattr__` / `register_*` / `__delattr__`, which keep the two in step.
    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
            return
        if isinstance(value, Module):
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter '{name}' (expected Parameter or None)")
            self._parameters[name] = None
        elif name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        self._buffers[name] = array
        object.__setattr__(self, name, array)
        if not persistent:
            self._non_persistent.add(name)

    # -- forward / backward ---------------------------------------------------------------------------
    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def save_for_backward(self, *values) -> None:
        """Keep `values` for the next backward, their ndarrays read-only until then (see the module docstring).

        Releases what the previous forward saved. Under `manual.no_grad()` nothing is saved or locked."""
        state = self.__dict__  # plain attributes, written directly (this runs once per module and forward)
        if state["_locked"]:
            grad_mode.release(state["_locked"])
        if grad_mode._state["enabled"]:  # grad_mode.is_grad_enabled(), inlined
            state["_locked"] = grad_mode.lock(values)
            state["_saved"] = values
        else:
            state["_locked"] = ()
            state["_saved"] = None

    def saved_for_backward(self) -> tuple:
        """What the last forward saved; consumed (and its arrays writeable again), so a second backward raises."""
        state = self.__dict__
        saved = state["_saved"]
        if saved is None:
            raise RuntimeError(f"{self.label()}: backward called without a matching forward "
                               f"(no forward yet, backward already ran for the last forward, "
                               f"or the forward ran under manual.no_grad())")
        state["_saved"] = None
        if state["_locked"]:
            grad_mode.release(state["_locked"])
            state["_locked"] = ()
        return saved

    # -- traversal ------------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_members(self, table: str):
        for module_prefix, module in self.named_modules():
            for name, value in getattr(module, table).items():
                if value is not None:
                    yield (f"{module_prefix}.{name}" if module_prefix else name), value, module, name

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for full_name, param, _, _ in self._named_members("_parameters"):
            yield full_name, param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for full_name, buffer, _, _ in self._named_members("_buffers"):
            yield full_name, buffer

    def buffers(self) -> Iterator[np.ndarray]:
        for _, buffer in self.named_buffers():
            yield buffer

    # -- modes and gradients --------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, *args, dtype=None, device=None) -> Module:
        """torch's `module.to(dtype)` / `.to(device)` / `.to(device, dtype)`: casts every float parameter, its
        `.grad` and every float buffer to `dtype` in place (a Parameter stays the same object, so an optimizer
        built on it keeps it); integer buffers (num_batches_tracked) stay. Returns self.

        dtype: a NumPy dtype or its name ("float64", np.float32, "double"), or torch's (torch.float64, shown as
        "torch.float64"). device: only "cpu" (NumPy runs on the CPU); another is refused before anything changes.
        """
        for arg in args:
            if _is_device(arg):
                device = arg
            else:
                dtype = arg
        if device is not None and str(device) != "cpu":
            raise ValueError(f"{self.label()}.to: manual modules run on the CPU (NumPy); got device {str(device)!r}. "
                             f"Move the torch twin instead, or use device 'cpu'")
        if dtype is None:
            return self
        target = resolve_dtype(dtype, f"{self.label()}.to")
        for module in self.modules():
            for param in (p for p in module._parameters.values() if p is not None):
                param.data = param.data.astype(target, copy=False)
                param.grad = None if param.grad is None else param.grad.astype(target, copy=False)
            for name, buffer in list(module._buffers.items()):
                if isinstance(buffer, np.ndarray) and buffer.dtype.kind == "f":
                    setattr(module, name, buffer.astype(target, copy=False))
        return self

    def double(self) -> Module:
        """`.to(float64)`, as torch's `module.double()`."""
        return self.to(np.float64)

    def float(self) -> Module:
        """`.to(float32)`, as torch's `module.float()`."""
        return self.to(np.float32)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            param.clear_grad(set_to_none)

    def accumulate_parameter_grads(self, **grads) -> None:
        """For a backward: add each freshly computed dL/d(name) into the parameter `name`, if it exists (a layer
        built with bias=False has `bias` None)."""
        for name, grad in grads.items():
            param = self._parameters[name]
            if param is not None:
                param.accumulate_grad(grad, fresh=True)

    # -- state_dict -----------------------------------------------------------------------------------
    def _state_entries(self):
        """(key, owner module, attribute name, array) in torch's order: per module, parameters then
        persistent buffers, parents before children."""
        for prefix, module in self.named_modules():
            for name, array in list(module._parameters.items()) + list(module._buffers.items()):
                if array is None or name in module._non_persistent:
                    continue
                key = f"{prefix}.{name}" if prefix else name
                yield key, module, name, array.data if isinstance(array, Parameter) else array

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Keys as torch ("0.weight", "1.running_mean"); values are copies, so later steps do not alter them."""
        return OrderedDict((key, np.array(array, copy=True)) for key, _, _, array in self._state_entries())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy array-likes (NumPy arrays, torch CPU tensors, lists) into the parameters and buffers.

        Values are cast to each target's dtype, as `tensor.copy_` does. Shape mismatches always raise;
        missing and unexpected keys raise when `strict`, and are returned either way.
        """
        targets = {key: (module, name, array) for key, module, name, array in self._state_entries()}
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems = []
        for key in (k for k in targets if k in state_dict):
            given = np.shape(np.asarray(state_dict[key]))
            if given != targets[key][2].shape:
                problems.append(f"size mismatch for {key}: copying a param with shape {given} from checkpoint, "
                                f"the shape in current model is {targets[key][2].shape}.")
        if strict:
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                problems.insert(1 if missing else 0,
                                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems))
        for key in (k for k in targets if k in state_dict):
            array = targets[key][2]
            array[...] = np.asarray(state_dict[key])
        return IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def label(self) -> str:
        """How errors name this module: its class and constructor arguments, e.g. `Linear(in_features=4, ...)`."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self):
        if not self._modules:
            return self.label()
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _is_device(value) -> bool:
    """A device as torch names one: a torch.device (it has `.type`), or a name such as "cpu", "cuda:0"."""
    if hasattr(value, "type") and not isinstance(value, (type, np.dtype)):
        return True
    return isinstance(value, str) and value.split(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta", "hip")
