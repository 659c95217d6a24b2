"""Optimizer bookkeeping shared by every algorithm, as torch.optim.Optimizer: param_groups, lazily created
per-parameter `state`, `zero_grad`, and `state_dict` in torch's layout (integer parameter indices).

Subclasses implement `update(param, state, group)` for one parameter whose `.grad` is not None; parameters
with `grad is None` are skipped entirely (no weight decay, no state, no step count), as in torch. A `.grad`
that is not a plain ndarray of its parameter's shape and dtype is refused at `step` (torch refuses it when
it is assigned): NumPy would broadcast a (1, n) gradient into an (m, n) parameter, or promote the update.
Subclasses list their hyperparameter checks in `RULES`; every param group (and the constructor's defaults)
is checked against them, so a bad value raises a ValueError naming the optimizer, the argument, the value
given and the value expected.

torch's implementation flags (`foreach`, `fused`, `differentiable`, `capturable`) are taken by each optimizer
whose torch twin takes them, with torch's defaults, and kept in its param groups (so state_dicts move between
the two unchanged). manual has one implementation, the single-tensor loop over NumPy arrays, so it accepts the
values that change no number on that path and refuses the rest in one line (`IMPLEMENTATION_FLAGS`), in the
constructor, in `add_param_group` and in `load_state_dict`.
"""
from __future__ import annotations

import copy

import numpy as np

from manual.nn.module import Parameter
from manual.optim._ops import add

STEP_DTYPE = np.float32  # torch keeps `step` as a 0-d float32 tensor
GROUP_KEYS_KEPT = ("initial_lr",)  # set by an lr scheduler; loaded with the state like the hyperparameters
# torch's implementation flags: name -> (the values manual accepts, why it refuses the others)
IMPLEMENTATION_FLAGS = {
    "foreach": ((None, True, False), "every value accepted: manual runs the single-tensor path, whichever is asked"),
    "fused": ((None, False), "fused kernels are CUDA/torch-only; manual runs the single-tensor path"),
    "differentiable": ((False,), "manual has no autograd through the optimizer step"),
    "capturable": ((False,), "CUDA-graph capture is torch-only; manual keeps `step` on the CPU"),
}


def check_implementation_flags(optimizer: str, group: dict) -> None:
    """Refuse, in one line naming the optimizer and the flag, a flag value manual cannot honour: NotImplementedError
    for a value torch accepts (fused=True), ValueError for one that is not None/True/False."""
    for flag, (accepted, reason) in IMPLEMENTATION_FLAGS.items():
        if flag not in group:
            continue
        value = group[flag]
        expected = " or ".join(map(repr, accepted))
        if not (value is None or isinstance(value, bool)):
            raise ValueError(f"{optimizer}({flag}={value!r}): expected {flag}={expected}")
        if value not in accepted:
            raise NotImplementedError(f"{optimizer}({flag}={value!r}): {reason} (expected {flag}={expected})")


def non_negative(name: str) -> tuple:
    """A RULES entry: `name` >= 0. NaN fails too, as torch's Adam, AdamW, Adagrad and RMSprop refuse it (`not 0.0 <=
    value`); torch's SGD checks `value < 0.0` and takes a NaN lr, momentum or weight_decay, which manual's refuses."""
    return (name,), lambda group: 0.0 <= group[name], f"{name} >= 0"


def l2_gradient(param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool) -> np.ndarray:
    """g = (-g if maximize else g) + weight_decay·p: the gradient every update rule starts from (L2 decay)."""
    grad = -grad if maximize else grad
    return add(grad, param, alpha=weight_decay) if weight_decay != 0 else grad


def new_step() -> np.ndarray:
    return np.array(0.0, dtype=STEP_DTYPE)


class Optimizer:
    RULES: tuple = ()  # (argument names, test(group) -> bool, what is expected), checked for every group

    def __init__(self, params, defaults: dict):
        self._check_hyperparameters(defaults)
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[Parameter, dict] = {}
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list "
                             f"(expected at least one Parameter)")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Parameter) else list(params)
        for param in group["params"]:
            if not isinstance(param, Parameter):
                raise TypeError(f"{type(self).__name__} can only optimize manual.nn.Parameter objects, "
                                f"got {type(param).__name__}")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):  # torch warns it will become an error
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same parameter more than once "
                             f"(expected distinct parameters, got {len(group['params'])} entries for "
                             f"{len({id(p) for p in group['params']})} parameters)")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict) -> None:
        check_implementation_flags(type(self).__name__, group)
        for names, test, expected in self.RULES:
            if not test(group):
                given = ", ".join(f"{name}={group[name]!r}" for name in names)
                raise ValueError(f"{type(self).__name__}: invalid {given}, expected {expected}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None  # Parameter.clear_grad(True), without the call (once per parameter and step)
                else:
                    param.clear_grad(False)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; `closure` (optional) recomputes and returns the loss."""
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is not None:
                    if type(grad) is not np.ndarray or grad.shape != param.data.shape or grad.dtype != param.data.dtype:
                        self._refuse_grad(param, grad)
                    state = self.state.get(param)
                    if state is None:
                        state = self.state[param] = {}
                    self.update(param, state, group)
        return loss

    def _refuse_grad(self, param: Parameter, grad) -> None:
        index = next(i for i, p in enumerate(self._indexed_params()) if p is param)
        raise ValueError(f"{type(self).__name__}: the .grad of parameter {index} must be a numpy.ndarray of its "
                         f"shape {param.data.shape} and dtype {param.data.dtype}, got "
                         f"{type(grad).__name__} of shape {np.shape(grad)} and dtype {getattr(grad, 'dtype', None)}")

    def update(self, param: Parameter, state: dict, group: dict) -> None:
        raise NotImplementedError

    # -- state_dict, in torch's layout ----------------------------------------------------------------
    def _indexed_params(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """{'state': {index: {name: array}}, 'param_groups': [{hyperparameters..., 'params': [indices]}]}."""
        index_of = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            hyper = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": [index_of[id(p)] for p in group["params"]]})
        state = {index_of[id(p)]: {k: np.array(v, copy=True) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index_of and s}  # SGD without momentum: {}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict of the same layout (manual's, or torch's with tensors turned into arrays).

        State arrays are cast to their parameter's dtype, except `step`, which stays float32. From the saved
        groups, the hyperparameters and implementation flags this optimizer takes and `initial_lr` are taken (a
        flag value manual refuses, such as torch's fused=True, is refused before anything changes); a flag this
        optimizer does not take (from another torch version) is ignored.
        """
        groups = state_dict["param_groups"]
        known = set(self.defaults) | set(GROUP_KEYS_KEPT) | set(IMPLEMENTATION_FLAGS) | {"params"}
        foreign = sorted({key for group in groups for key in group if key not in known})
        if foreign:  # another algorithm's state (Adam's betas in SGD); torch would load it and copy its lr
            raise ValueError(f"{type(self).__name__}: loaded state dict comes from another optimizer: its param "
                             f"groups have {foreign}, which {type(self).__name__} does not have (expected the "
                             f"hyperparameters {sorted(self.defaults)})")
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups, strict=True)):
            raise ValueError(f"{type(self).__name__}: loaded state dict has groups of sizes "
                             f"{[len(g['params']) for g in groups]}, this optimizer has "
                             f"{[len(g['params']) for g in self.param_groups]}")
        for group in groups:
            check_implementation_flags(type(self).__name__, {k: v for k, v in group.items() if k in self.defaults})
        params = self._indexed_params()
        index_to_param = {i: params[pos] for pos, i in enumerate(i for g in groups for i in g["params"])}
        self.state = {}
        for index, saved in state_dict["state"].items():
            param = index_to_param[int(index)]
            self.state[param] = {name: np.array(value, dtype=STEP_DTYPE if name == "step" else param.dtype)
                                 for name, value in saved.items()}
        for own, saved in zip(self.param_groups, groups, strict=True):
            own.update({k: copy.deepcopy(v) for k, v in saved.items()
                        if k != "params" and (k in self.defaults or k in GROUP_KEYS_KEPT)})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])
