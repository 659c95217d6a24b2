"""How `python -m compare` checks each of its case runs (compare/checks/selection.py makes them: the training
catalogue, the module catalogue and the extreme cases, one run per case, dtype and device): each the way its tests
check it, reported as a CaseResult.

- training (compare/catalogue/training_cases.py): both backends trained step by step (compare/engine/step_loop.py).
- module (compare/catalogue/module_cases.py, plus the ModuleCases user code registered): one forward and backward
  against torch autograd in the run's dtype, and in float64 also against central differences (unless the case says
  `gradcheck=False`), as tests/checks/test_modules.py does. A finite-difference mismatch is the comparison
  `grad.<argument> (vs finite differences)`.
- extreme (compare/catalogue/extreme_cases.py), as tests/checks/test_extremes.py does: the extreme module cases;
  the tiny-variance BatchNorm cases (float64 against torch, float32 against the exact result: torch's float64 module
  on the same float32 values, since torch's own float32 kernel loses digits there); every optimizer fed huge
  gradients for 50 steps (float32 only where torch's kernels fuse multiply-add, see the test); the divergent run.

`execute` checks a run; `dispatch_order` is the order worker processes are handed them (compare/workers/pool.py).
"""
from __future__ import annotations

import copy
import os
import time
import traceback
import warnings

import numpy as np
import torch

from compare.catalogue.batches import SineSequences, TextWindows
from compare.catalogue.case_types import Case, ModuleCase
from compare.checks.module_check import build_pair, check_module_case, fix_dropout_masks, make_arguments, make_inputs
from compare.checks.selection import OptimizerCase, Run, TinyVarianceCase
from compare.checks.update_rule import update_rule_table
from compare.engine.comparison import compare_arrays
from compare.engine.error_table import ErrorTable, TensorError
from compare.engine.step_loop import CaseResult, run_case
from compare.engine.tolerances import GRADCHECK_TOLERANCE, tolerance_for
from manual.gradcheck import check_call

SEQUENCE_DATA = (TextWindows, SineSequences)  # batches whose every step loops over a sequence
OPTIMIZER_STEPS = 50  # as tests/checks/test_extremes.py
BATCH_ELEMENTS = 4096  # input elements per batch that `estimated_cost` counts as one more small step


def estimated_cost(run: Run) -> float:
    """A rough relative cost of a Case's run: its steps (eval steps included), 4x where every step loops over a
    sequence (TextWindows, SineSequences: the recurrent and attention models, the slowest per step), 1 + 1/4096
    per element of one input batch where the data says its size (Batches: batch_size x in_features; the 64x64x3
    images' steps cost ~12x the small MLPs', 13x here, where steps alone made them the last runs handed out),
    1.3x in float32 (its float64 reference steps and resync)."""
    case = run.case
    assert isinstance(case, Case), "only the training cases' runs are estimated"
    sequence = 4.0 if isinstance(case.data, SEQUENCE_DATA) else 1.0
    size = 1 + getattr(case.data, "batch_size", 0) * getattr(case.data, "in_features", 0) / BATCH_ELEMENTS
    return (case.steps + case.eval_steps) * sequence * size * (1.3 if run.dtype == "float32" else 1.0)


def dispatch_order(runs: list[Run]) -> list[int]:
    """The indices of `runs` in the order worker processes are handed them (compare/workers/pool.py): the runs of a
    Case (training) longest first by `estimated_cost`, so that the check does not end on one long run while the
    other workers idle, then the rest (module and extreme runs, short) in report order."""
    cases = sorted((i for i, run in enumerate(runs) if isinstance(run.case, Case)),
                   key=lambda i: -estimated_cost(runs[i]))
    return cases + [i for i, run in enumerate(runs) if not isinstance(run.case, Case)]


def execute(run: Run, steps: int | None = None, seed: int = 0) -> CaseResult:
    """Check one run (its result's `kind` says which catalogue it came from). The module and extreme cases overflow
    and divide by zero on purpose, and one asks torch for 'same' padding of an even kernel: their NumPy floating-point
    and torch warnings are silenced (the report's NON-FINITE lines say where a NaN/Inf appeared)."""
    if run.kind == "training":
        return _execute(run, steps, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.filterwarnings("ignore", message="Using padding='same'", category=UserWarning)
        return _execute(run, steps, seed)


def _execute(run: Run, steps: int | None, seed: int) -> CaseResult:
    case = run.case
    if isinstance(case, Case):
        result = run_case(case, run.dtype, run.device, steps, seed)
    elif isinstance(case, OptimizerCase):
        result = _result(run, OPTIMIZER_STEPS, lambda: update_rule_table(case.optimizer, case.kwargs, run.dtype,
                                                                          steps=OPTIMIZER_STEPS,
                                                                          gradient=case.gradient))
    elif isinstance(case, TinyVarianceCase):
        result = _result(run, 1, lambda: (check_module_case(case.case, "float64", seed) if run.dtype == "float64"
                                          else tiny_variance_float32(case.case, seed)))
    else:
        result = _result(run, 1, lambda: module_errors(case, run.dtype, seed))
    result.kind = run.kind
    return result


def execute_safely(run: Run, steps: int | None = None, seed: int = 0) -> CaseResult:
    """execute, with an exception reported as a FAIL result naming it rather than ending the whole job."""
    try:
        return execute(run, steps, seed)
    except Exception as error:  # any error of one case is that case's FAIL row
        where = traceback.extract_tb(error.__traceback__)[-1]
        return CaseResult(run.name, run.dtype, run.device, 0, kind=run.kind,
                          error=f"{type(error).__name__}: {error} ({os.path.basename(where.filename)}:{where.lineno})")


def _result(run: Run, steps: int, errors) -> CaseResult:
    """The run's result from `errors()`: a list of TensorErrors or an ErrorTable."""
    result = CaseResult(run.name, run.dtype, run.device, steps)
    start = time.perf_counter()
    found = errors()
    result.table = found if isinstance(found, ErrorTable) else ErrorTable.of(found)
    result.timing["total"] = time.perf_counter() - start
    return result


def module_errors(case: ModuleCase, dtype: str, seed: int = 0) -> list[TensorError]:
    """Against torch in `dtype`; in float64 also against central differences (case.gradcheck)."""
    errors = check_module_case(case, dtype, seed)
    if dtype == "float64" and case.gradcheck:
        errors.append(finite_difference_error(case, seed))
    return errors


def finite_difference_error(case: ModuleCase, seed: int = 0) -> TensorError:
    """manual's float64 backward against central differences, as one comparison: its worst probe against the
    finite-difference error model (manual.gradcheck, compare/engine/tolerances.py's GRADCHECK_TOLERANCE)."""
    _, module = build_pair(case, "float64", seed)
    fix_dropout_masks(module)
    found = check_call(module, make_arguments(case, "float64", seed), target=case.target is not None, eps=case.fd_eps,
                       bound=GRADCHECK_TOLERANCE)
    worst = found.worst(GRADCHECK_TOLERANCE)
    if worst is None:  # nothing to probe (every element next to a declared kink)
        return TensorError(0, "grad (vs finite differences)", 0.0, 0.0, 0.0, (), 0.0, 0.0)
    allowed = GRADCHECK_TOLERANCE.allowed(worst)
    index, where = (worst.where, "") if isinstance(worst.where, tuple) else ((), f" {worst.where}")
    return TensorError(0, f"grad.{worst.tensor}{where} (vs finite differences)", worst.error,
                       worst.error / max(abs(worst.numeric), 1e-300), worst.error / allowed if worst.error else 0.0,
                       tuple(index), worst.analytic, worst.numeric, allowed)


def tiny_variance_float32(case: ModuleCase, seed: int = 0) -> list[TensorError]:
    """float32 manual against the exact result: torch's float64 module on the same float32 inputs and parameters."""
    torch32, manual32 = build_pair(case, "float32", seed)
    torch64 = copy.deepcopy(torch32).double()
    x, _ = make_inputs(case, "float32", seed)
    grad = np.random.default_rng(seed + 1).standard_normal(x.shape).astype(np.float32)
    x64 = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    exact = torch64(x64)
    exact.backward(torch.from_numpy(grad.astype(np.float64)))
    tolerance, exact_grad = tolerance_for("float32"), x64.grad
    assert exact_grad is not None
    return [compare_arrays(0, "output", manual32(x), exact.detach().numpy(), tolerance),
            compare_arrays(0, "grad.input", manual32.backward(grad), exact_grad.numpy(), tolerance)]
