"""Optimizer bookkeeping shared by every algorithm, as torch.optim.Optimizer: param_groups, lazily created
per-parameter `state`, `zero_grad`, and `state_dict` in torch's layout (integer parameter indices).

Subclasses implement `update(param, state, group)` for one parameter whose `.grad` is not None; parameters
with `grad is None` are skipped entirely (no weight decay, no state, no step count), as in torch.
"""
from __future__ import annotations

import copy

import numpy as np

from manual.nn.module import Parameter

STEP_DTYPE = np.float32  # torch keeps `step` as a 0-d float32 tensor


class Optimizer:
    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.param_groups: list[dict] = []
        self.state: dict[Parameter, dict] = {}
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
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
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.fill(0)

    def step(self) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self.update(param, self.state.setdefault(param, {}), group)

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
                 for p, s in self.state.items() if id(p) in index_of}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state_dict of the same layout (manual's, or torch's with tensors turned into arrays).

        State arrays are cast to their parameter's dtype, except `step`, which stays float32.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}: loaded state dict has groups of sizes "
                             f"{[len(g['params']) for g in groups]}, this optimizer has "
                             f"{[len(g['params']) for g in self.param_groups]}")
        params = self._indexed_params()
        index_to_param = {i: params[pos] for pos, i in enumerate(i for g in groups for i in g["params"])}
        self.state = {}
        for index, saved in state_dict["state"].items():
            param = index_to_param[int(index)]
            self.state[param] = {name: np.array(value, dtype=STEP_DTYPE if name == "step" else param.dtype)
                                 for name, value in saved.items()}
        for own, saved in zip(self.param_groups, groups):
            own.update({k: v for k, v in saved.items() if k != "params" and k in self.defaults})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])
