"""Run a torch twin and a manual twin step by step and record, per step and per tensor, how far apart they are.

One step (DESIGN.md): the same batch to both; forward (output, loss); backward (dL/d(input), every
parameter's .grad by name); optimizer step (every parameter, buffer and optimizer-state tensor by name).
All of a step's tensors are compared at once (compare/engine/comparison.py); where a NaN/Inf appears they are also
scanned for it (compare/engine/non_finite.py): the first step and tensor where one appeared on each side, and whether
the two sides agree on them. float32 steps start from torch's state and are judged by the error model of
compare/engine/tolerances.py, against torch's own float32 error measured with a float64 reference (compare/engine/reference.py).
The errors are kept as NumPy columns (compare/engine/error_table.py): a TensorError object is made only for the rows a
caller asks for (`result.errors` makes them all, once). Each result keeps where its time went (`timing`):
manual's step, torch's step, and the harness's own work.
"""
from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from compare.engine.comparison import (
    StepStats,
    compare_step_columns,
    judge_columns,
)
from compare.engine.error_table import ErrorColumns, ErrorTable, TensorError
from compare.engine.masks import share_dropout_masks
from compare.engine.non_finite import NonFiniteLog
from compare.engine.reference import Reference
from compare.engine.step_tensors import ModelTensors, step_pairs
from compare.engine.tolerances import ErrorModel, Tolerance, error_model_for, tolerance_for
from compare.engine.twins import Twin, build_twins, copy_torch_state_into_manual, manual_step, torch_step

TIMED = ("manual", "torch", "reference", "compare", "resync", "build", "startup")  # the parts of a run's wall time


@dataclass
class CaseResult:
    case: str
    dtype: str
    device: str
    steps: int
    table: ErrorTable = field(default_factory=ErrorTable)  # every tensor's error at every step (error_table.py)
    non_finite: NonFiniteLog = field(default_factory=NonFiniteLog)
    timing: dict = field(default_factory=lambda: dict.fromkeys(TIMED + ("total",), 0.0))  # seconds
    references: int = 0  # steps at which the float64 reference ran (float32 error model)
    kind: str = "training"  # the catalogue of the case (compare/checks/selection.py): training, module or extreme
    error: str = ""  # why the run could not finish (an exception, a worker process that died): a FAIL

    @property
    def seconds_manual(self) -> float:
        return self.timing["manual"]

    @property
    def seconds_torch(self) -> float:
        return self.timing["torch"]

    @property
    def seconds_harness(self) -> float:
        """The harness's own time: everything but manual's and torch's steps and torch's one-time start-up (the
        reference step included)."""
        return self.timing["total"] - self.timing["manual"] - self.timing["torch"] - self.timing["startup"]

    @property
    def errors(self) -> list[TensorError]:
        """Every tensor's error at every step, in step order (made from the table on first use)."""
        return self.table.errors()

    @errors.setter
    def errors(self, errors: list[TensorError]) -> None:
        self.table = ErrorTable.of(errors)

    @property
    def passed(self) -> bool:
        return self.table.passed and not self.error

    @property
    def first_mismatch(self) -> TensorError | None:
        return self.table.first_mismatch

    @property
    def worst(self) -> TensorError | None:
        return self.table.worst

    def worst_rel(self, *prefixes: str) -> float:
        """Largest relative error among tensors whose names start with one of `prefixes`."""
        return self.table.worst_rel(*prefixes)

    def ms_per_step(self) -> tuple[float, float]:
        return 1e3 * self.seconds_manual / self.steps, 1e3 * self.seconds_torch / self.steps


class _Clock:
    """Adds the time since the last `lap` to one of a result's timing entries."""

    def __init__(self, timing: dict):
        self.timing, self.last = timing, time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self.timing[part] += now - self.last
        self.last = now


class _Judge:
    """The errors of one run: decided per step (float64: rtol/atol), or gathered and judged at the end under the
    float32 error model, with the float64 reference run where the model needs it."""

    def __init__(self, result: CaseResult, tolerance: Tolerance, model: ErrorModel | None):
        self.result, self.tolerance, self.model = result, tolerance, model
        self.stats: list[StepStats] = []
        self.blocks: list[ErrorColumns] = []  # per step: the errors decided one by one, then the vectorised ones

    def compare(self, step: int, pairs: list, clock: _Clock) -> StepStats | None:
        """Compare a step's pairs; under the model, return its StepStats, which the reference may complete."""
        decided, stats = compare_step_columns(step, pairs, self.tolerance, self.result.non_finite, self.model)
        if decided:
            self.blocks.append(ErrorColumns.of(decided))
        self.blocks.append(stats)  # under the model, StepStats: replaced by its ErrorColumns when the run is judged
        clock.lap("compare")
        if self.model is None:
            return None
        self.stats.append(stats)
        return stats

    def wants_reference(self, step: int, stats: StepStats | None) -> bool:
        """Whether the float64 reference runs this step: under the model, on sampled steps and where some tensor
        is beyond the floor."""
        if stats is None:
            return False
        assert self.model is not None, "StepStats are made only under the error model"
        return step % self.model.sample_every == 0 or stats.beyond_floor(self.model)

    def add_reference(self, stats: StepStats, values: list, clock: _Clock, reference: Reference | None = None,
                      batch: tuple[np.ndarray, np.ndarray, str] | None = None) -> None:
        """The float64 reference's `values` for the step's tensors; with `reference` after a training step on
        `batch` (x, y, device), also the magnitudes the parameters and state held before it and, where a tensor is
        beyond the bound of the step's own spread (elsewhere it cannot change the verdict): for a parameter or
        state tensor, torch's gradient error carried through the update; for the loss or a gradient of fewer than
        `least_samples` elements, torch's error on the batch re-ordered."""
        assert self.model is not None, "StepStats are made only under the error model"
        stats.add_reference(values)
        if reference is not None:
            stats.add_start_magnitudes(reference.start_magnitudes(stats.names))
            if stats.beyond_own_bound(self.model, ("param.", "state.")):
                stats.add_propagated(reference.propagated(stats.names), self.model)
            least = self.model.least_samples
            if batch is not None and stats.beyond_own_bound(self.model, ("loss", "grad."), smaller_than=least):
                stats.add_samples(reference.rounding_samples(*batch, stats.names, least - 1), self.model)
        self.result.references += 1
        clock.lap("reference")

    def table(self) -> ErrorTable:
        if self.model is not None:
            judged = iter(judge_columns(self.stats, self.model))
            self.blocks = [next(judged) if isinstance(b, StepStats) else b for b in self.blocks]
        return ErrorTable(self.blocks)


def run_twins(torch_twin: Twin, manual_twin: Twin, batches, steps: int, dtype: str, device: str,
              case_name: str = "custom", tolerance: Tolerance | None = None, eval_steps: int = 0) -> CaseResult:
    """Train both twins on `steps` batches from the iterator `batches`, comparing everything at every step
    (with `tolerance` elementwise; by default the harness's: rtol/atol in float64, the error model in float32),
    then, with `eval_steps`, evaluate both on that many more batches (`evaluate_twins`)."""
    result = CaseResult(case_name, dtype, device, steps)
    clock = _Clock(result.timing)
    model = error_model_for(dtype) if tolerance is None else None
    tolerance = tolerance or tolerance_for(dtype)
    torch_twin.model.to(device)
    reference = Reference(torch_twin) if model is not None else None
    judge_ = _Judge(result, tolerance, model)
    names = [name for name, _ in torch_twin.model.named_parameters()]
    model_tensors = ModelTensors(torch_twin.model, manual_twin.model)
    clock.lap("build")
    for step in range(steps):
        x, y = next(batches)
        if reference is not None:
            reference.sync()
        clock.lap("reference")
        t_outputs = torch_step(torch_twin, x, y, device, input_grad=True)
        clock.lap("torch")
        m_outputs = manual_step(manual_twin, x, y)
        clock.lap("manual")
        pairs = step_pairs((m_outputs, t_outputs), model_tensors, torch_twin, manual_twin, names, after_step=True)
        stats = judge_.compare(step, pairs, clock)
        if judge_.wants_reference(step, stats):
            assert stats is not None and reference is not None, "the reference is built with the error model"
            judge_.add_reference(stats, reference.values(reference.step(x, y, device), stats.names, names, torch_twin,
                                                         after_step=True), clock, reference, (x, y, device))
        if stats is not None:
            stats.forget_values()
        if tolerance.resync:
            _resync(torch_twin, manual_twin, device)
        clock.lap("resync")
    if eval_steps:
        _evaluate(torch_twin, manual_twin, batches, eval_steps, steps, device, judge_, reference, clock)
    result.table = judge_.table()
    clock.lap("compare")
    result.timing["total"] = sum(result.timing[part] for part in TIMED)
    return result


def _evaluate(torch_twin: Twin, manual_twin: Twin, batches, steps: int, first_step: int, device: str,
              judge_: _Judge, reference: Reference | None, clock: _Clock) -> None:
    torch_twin.model.eval()
    manual_twin.model.eval()
    if reference is not None:
        reference.train(False)
    for step in range(first_step, first_step + steps):
        x, y = next(batches)
        if reference is not None:
            reference.sync()
        clock.lap("reference")
        x_t = torch.from_numpy(x).to(device)
        x_t.requires_grad_(x_t.is_floating_point())  # integer inputs (token indices) have no gradient
        torch_twin.model.zero_grad()
        t_output = torch_twin.model(x_t)
        t_loss = torch_twin.loss_fn(t_output, torch.from_numpy(y).to(device))
        t_loss.backward()
        clock.lap("torch")
        manual_twin.model.zero_grad()
        m_output = manual_twin.model(x)
        m_loss = manual_twin.loss_fn(m_output, y)
        m_grad_input = manual_twin.model.backward(manual_twin.loss_fn.backward())
        clock.lap("manual")
        pairs = step_pairs(((m_output, m_loss, m_grad_input), (t_output, t_loss, x_t.grad)),
                            ModelTensors(torch_twin.model, manual_twin.model), torch_twin, manual_twin, [],
                            after_step=False)
        stats = judge_.compare(step, pairs, clock)
        if judge_.wants_reference(step, stats):
            assert stats is not None and reference is not None, "the reference is built with the error model"
            judge_.add_reference(stats, reference.values(reference.evaluate(x, y, device), stats.names, [], torch_twin,
                                                         after_step=False), clock)
        if stats is not None:
            stats.forget_values()


def evaluate_twins(torch_twin: Twin, manual_twin: Twin, batches, steps: int, first_step: int, dtype: str,
                   device: str, non_finite: NonFiniteLog | None = None) -> list[TensorError]:
    """Both models in eval mode (BatchNorm on running statistics, Dropout off) for `steps` batches: forward,
    loss and backward, no optimizer step; compares output, loss, dL/d(input), every parameter's grad and every
    buffer (which eval must leave unchanged). Steps are numbered on from `first_step`; NaN/Inf are noted in
    `non_finite` when given. float32 is judged by the error model over these steps alone."""
    result = CaseResult("eval", dtype, device, steps)
    if non_finite is not None:
        result.non_finite = non_finite
    model = error_model_for(dtype)
    reference = Reference(torch_twin) if model is not None else None
    judge_ = _Judge(result, tolerance_for(dtype), model)
    _evaluate(torch_twin, manual_twin, batches, steps, first_step, device, judge_, reference, _Clock(result.timing))
    return judge_.table().errors()


def _torch_start_up() -> float:
    """torch imports torch._dynamo when it builds its first optimizer (about a second, once per process); done here
    and timed on its own, as torch's start-up rather than the first case's build. Seconds taken (0 after the
    first call)."""
    if "torch._dynamo" in sys.modules:
        return 0.0
    start = time.perf_counter()
    importlib.import_module("torch._dynamo")
    return time.perf_counter() - start


def _resync(torch_twin: Twin, manual_twin: Twin, device: str) -> None:
    """copy_torch_state_into_manual; on the CPU from NumPy views of torch's tensors, without copying them first
    (manual's load_state_dict copies)."""
    if device != "cpu":
        copy_torch_state_into_manual(torch_twin, manual_twin)
        return
    manual_twin.model.load_state_dict({k: v.numpy() if isinstance(v, torch.Tensor) else v
                                      for k, v in torch_twin.model.state_dict().items()})
    state_dict = torch_twin.optimizer.state_dict()
    manual_twin.optimizer.load_state_dict({
        "state": {index: {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in entries.items()}
                  for index, entries in state_dict["state"].items()},
        "param_groups": state_dict["param_groups"]})
    if manual_twin.scheduler is not None:
        manual_twin.scheduler.load_state_dict(torch_twin.scheduler.state_dict())


def run_case(case, dtype: str, device: str = "cpu", steps: int | None = None, seed: int = 0) -> CaseResult:
    start_up = _torch_start_up()
    start = time.perf_counter()
    torch_twin, manual_twin = build_twins(case, dtype, device, seed)
    share_dropout_masks(torch_twin.model, manual_twin.model)
    batches = case.data.stream(seed, dtype)
    built = time.perf_counter() - start
    result = run_twins(torch_twin, manual_twin, batches, steps or case.steps, dtype, device, case.name,
                       eval_steps=case.eval_steps)
    result.timing["build"] += built
    result.timing["startup"] += start_up
    result.timing["total"] += built + start_up
    return result
