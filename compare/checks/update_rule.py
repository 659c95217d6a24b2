"""An optimizer's update rule alone, manual vs torch: the same random gradients fed to both for many steps, every
parameter, every optimizer-state tensor (`step` included) and every group's lr compared after every step.

The parameters sit in two groups (the second overriding lr and weight_decay) and one of them gets no gradient
every third step, so per-group hyperparameters and torch's skipping rule (no decay, no state, no step count for
a parameter whose grad is None) are exercised in every run.
"""
from __future__ import annotations

import numpy as np
import torch

import manual.nn
import manual.optim
from compare.engine.comparison import compare_step_columns
from compare.engine.error_table import ErrorColumns, ErrorTable, TensorError
from compare.engine.tolerances import Tolerance, update_rule_tolerance_for

SHAPES = [(3, 4), (5,), (2,)]
SECOND_GROUP = {"lr": 3e-3, "weight_decay": 0.05}
SKIPPED = 2  # index of the parameter whose grad is None every third step


def optimizer_pair(name: str, kwargs: dict, dtype: str, rng: np.random.Generator):
    """(manual, torch) optimizers `name(**kwargs)` over identical random parameters in two groups."""
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    manual_params = [manual.nn.Parameter(a) for a in initial]
    torch_params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in initial]

    def groups(params):
        return [{"params": params[:1]}, {"params": params[1:], **SECOND_GROUP}]
    return (getattr(manual.optim, name)(groups(manual_params), **kwargs),
            getattr(torch.optim, name)(groups(torch_params), **kwargs))


def params_of(optimizer) -> list:
    return [p for group in optimizer.param_groups for p in group["params"]]


def optimizer_pairs(manual_opt, torch_opt) -> list[tuple]:
    """Every (name, manual value, torch value) compared after a step: each parameter, every state tensor by
    `state.<index>.<name>` (None on the side that lacks it: an error) and every group's lr. Live values: the
    comparison reads them before the next step."""
    pairs: list[tuple] = [(f"param{i}", m.data, t.detach()) for i, (m, t)
                          in enumerate(zip(params_of(manual_opt), params_of(torch_opt), strict=True))]
    manual_state, torch_state = ({f"state.{i}.{k}": v for i, p in enumerate(params_of(opt))
                                  for k, v in opt.state.get(p, {}).items()} for opt in (manual_opt, torch_opt))
    pairs += [(name, manual_state.get(name), torch_state.get(name))
              for name in sorted(manual_state.keys() | torch_state.keys())]
    pairs += [(f"group{i}.lr", m["lr"], t["lr"])
              for i, (m, t) in enumerate(zip(manual_opt.param_groups, torch_opt.param_groups, strict=True))]
    return pairs


def compare_optimizers(step: int, manual_opt, torch_opt, tolerance: Tolerance) -> list[ErrorColumns]:
    """Every pair of `optimizer_pairs` at once (compare/engine/comparison.py): the errors decided one by one
    (a state entry on one side only), then the rest as columns."""
    decided, columns = compare_step_columns(step, optimizer_pairs(manual_opt, torch_opt), tolerance, None)
    return [ErrorColumns.of(decided), columns] if decided else [columns]


def standard_normal(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape)


def run_update_rule(name: str, kwargs: dict, dtype: str, steps: int = 200, seed: int = 0,
                    manual_update=None, gradient=standard_normal) -> list[TensorError]:
    """Feed `steps` random gradient sets to manual's and torch's `name(**kwargs)`; the errors of every step."""
    return update_rule_table(name, kwargs, dtype, steps, seed, manual_update, gradient).errors()


def update_rule_table(name: str, kwargs: dict, dtype: str, steps: int = 200, seed: int = 0,
                      manual_update=None, gradient=standard_normal) -> ErrorTable:
    """`run_update_rule`'s errors as an ErrorTable (compare/engine/error_table.py), each step's rows as columns.

    `manual_update(param, state, group)`, if given, replaces manual's per-parameter update (to show that a
    different convention is caught). `gradient(rng, shape)` draws each gradient (float64, cast to `dtype`);
    compare/catalogue/extreme_cases.py passes huge ones."""
    rng = np.random.default_rng(seed)
    manual_opt, torch_opt = optimizer_pair(name, kwargs, dtype, rng)
    if manual_update is not None:
        manual_opt.update = manual_update
    tolerance = update_rule_tolerance_for(dtype)
    blocks: list[ErrorColumns] = []
    for step in range(steps):
        for i, (m, t) in enumerate(zip(params_of(manual_opt), params_of(torch_opt), strict=True)):
            grad = None if i == SKIPPED and step % 3 == 1 else gradient(rng, m.shape).astype(dtype)
            m.grad = None if grad is None else grad.copy()
            t.grad = None if grad is None else torch.from_numpy(grad.copy())
        manual_opt.step()
        torch_opt.step()
        blocks += compare_optimizers(step, manual_opt, torch_opt, tolerance)
    return ErrorTable(blocks)
