"""Run a torch twin and a manual twin step by step and record, per step and per tensor, how far apart they are.

One step (DESIGN.md): the same batch to both; forward (output, loss); backward (dL/d(input), every
parameter's .grad by name); optimizer step (every parameter, buffer and optimizer-state tensor by name).
Every compared pair is also scanned for NaN/Inf (compare/non_finite.py): the first step and tensor where one
appeared on each side, and whether the two sides agree on them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from compare.masks import share_dropout_masks
from compare.non_finite import NonFiniteLog
from compare.tolerances import Tolerance, tolerance_for
from compare.twins import Twin, build_twins, copy_torch_state_into_manual, manual_step, to_numpy, torch_step


@dataclass
class TensorError:
    step: int
    name: str
    max_abs: float
    max_rel: float  # max |a - b| / max |b|: the error relative to the tensor's scale
    ratio: float  # max |a - b| / (rtol·|b| + atol): above 1 fails
    index: tuple
    manual: float
    torch: float

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0

    def describe(self) -> str:
        return (f"step {self.step}, {self.name}{list(self.index)}: manual {self.manual!r} vs torch {self.torch!r} "
                f"(abs {self.max_abs:.3e}, rel {self.max_rel:.3e})")


def compare_arrays(step: int, name: str, manual_value, torch_value, tolerance: Tolerance) -> TensorError:
    """Elementwise comparison; NaN/Inf count as equal only where both sides have the same one."""
    a = np.asarray(manual_value, dtype=np.float64)
    b = np.asarray(torch_value, dtype=np.float64)
    if a.shape != b.shape:
        return TensorError(step, f"{name} (shape {a.shape} vs {b.shape})", np.inf, np.inf, np.inf, (), np.nan, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        same_special = (a == b) | (np.isnan(a) & np.isnan(b))
        diff = np.where(same_special, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        ratio = diff / tolerance.allowed(np.where(np.isfinite(b), b, 0.0))
    if a.size == 0:
        return TensorError(step, name, 0.0, 0.0, 0.0, (), np.nan, np.nan)
    index = np.unravel_index(np.argmax(ratio), a.shape)
    scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0))
    max_rel = float(diff.max()) / scale if scale > 0 else float(diff.max())
    return TensorError(step, name, float(diff.max()), max_rel, float(ratio[index]), tuple(int(i) for i in index),
                       float(a[index]), float(b[index]))


@dataclass
class CaseResult:
    case: str
    dtype: str
    device: str
    steps: int
    errors: list[TensorError] = field(default_factory=list)
    non_finite: NonFiniteLog = field(default_factory=NonFiniteLog)
    seconds_manual: float = 0.0
    seconds_torch: float = 0.0

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.errors)

    @property
    def first_mismatch(self) -> TensorError | None:
        return next((e for e in self.errors if not e.passed), None)

    @property
    def worst(self) -> TensorError | None:
        return max(self.errors, key=lambda e: e.ratio, default=None)

    def worst_rel(self, *prefixes: str) -> float:
        """Largest relative error among tensors whose names start with one of `prefixes`."""
        return max((e.max_rel for e in self.errors if e.name.startswith(prefixes)), default=0.0)

    def ms_per_step(self) -> tuple[float, float]:
        return 1e3 * self.seconds_manual / self.steps, 1e3 * self.seconds_torch / self.steps


def _optimizer_state(optimizer, names: list[str]) -> dict[str, np.ndarray]:
    """Every optimizer-state tensor by parameter name, and each group's current lr (schedulers change it)."""
    state_dict = optimizer.state_dict()
    state = to_numpy(state_dict["state"])
    lrs = {f"state.group{i}.lr": np.asarray(group["lr"]) for i, group in enumerate(state_dict["param_groups"])}
    return {**lrs, **{f"state.{names[index]}.{key}": value for index, entries in state.items()
                      for key, value in entries.items()}}


def _model_pairs(torch_model, manual_model, after_step: bool) -> list[tuple]:
    """(name, manual value, torch value) for every parameter's grad (and, after an optimizer step, the parameter
    itself) and every buffer, by torch's names; the manual value is None where manual lacks the tensor."""
    m_params = dict(manual_model.named_parameters())
    pairs = []
    for name, t_param in torch_model.named_parameters():
        m_param = m_params.get(name)
        pairs.append((f"grad.{name}", None if m_param is None else m_param.grad, t_param.grad))
        if after_step:
            pairs.append((f"param.{name}", None if m_param is None else m_param.data, t_param))
    m_buffers = dict(manual_model.named_buffers())
    return pairs + [(f"buffer.{name}", m_buffers.get(name), t_buffer) for name, t_buffer in torch_model.named_buffers()]


def _input_grad_pair(x, m_grad_input, t_grad_input) -> list[tuple]:
    """dL/d(input) to compare, for float inputs; integer ones (token indices) have none on either side."""
    return [("grad.input", m_grad_input, t_grad_input)] if np.asarray(x).dtype.kind == "f" else []


def _compare_pairs(step: int, pairs, tolerance: Tolerance, non_finite: NonFiniteLog | None) -> list[TensorError]:
    """One TensorError per pair (a tensor missing on one side fails); NaN/Inf noted in `non_finite` when given."""
    errors = []
    for name, m_value, t_value in pairs:
        if m_value is None or t_value is None:
            missing = "manual" if m_value is None else "torch"
            errors.append(TensorError(step, f"{name} (missing on {missing})", np.inf, np.inf, np.inf, (), np.nan, np.nan))
            continue
        t_value = to_numpy(t_value)
        if non_finite is not None:
            non_finite.note(step, name, m_value, t_value)
        errors.append(compare_arrays(step, name, m_value, t_value, tolerance))
    return errors


def run_twins(torch_twin: Twin, manual_twin: Twin, batches, steps: int, dtype: str, device: str,
              case_name: str = "custom", tolerance: Tolerance | None = None) -> CaseResult:
    """Train both twins on `steps` batches from the iterator `batches`, comparing everything at every step
    (with `tolerance`, by default the harness's `tolerance_for(dtype)`)."""
    tolerance = tolerance or tolerance_for(dtype)
    result = CaseResult(case_name, dtype, device, steps)
    names = [name for name, _ in torch_twin.model.named_parameters()]
    torch_twin.model.to(device)
    for step in range(steps):
        x, y = next(batches)
        start = time.perf_counter()
        t_output, t_loss, t_grad_input = torch_step(torch_twin, x, y, device, input_grad=True)
        result.seconds_torch += time.perf_counter() - start
        start = time.perf_counter()
        m_output, m_loss, m_grad_input = manual_step(manual_twin, x, y)
        result.seconds_manual += time.perf_counter() - start

        pairs = [("output", m_output, t_output), ("loss", m_loss, t_loss)] + _input_grad_pair(x, m_grad_input,
                                                                                             t_grad_input)
        pairs += _model_pairs(torch_twin.model, manual_twin.model, after_step=True)
        m_state = _optimizer_state(manual_twin.optimizer, names)
        t_state = _optimizer_state(torch_twin.optimizer, names)
        pairs += [(name, m_state.get(name), t_state.get(name)) for name in sorted(m_state.keys() | t_state.keys())]
        result.errors += _compare_pairs(step, pairs, tolerance, result.non_finite)
        if tolerance.resync:
            copy_torch_state_into_manual(torch_twin, manual_twin)
    return result


def evaluate_twins(torch_twin: Twin, manual_twin: Twin, batches, steps: int, first_step: int, dtype: str,
                   device: str, non_finite: NonFiniteLog | None = None) -> list[TensorError]:
    """Both models in eval mode (BatchNorm on running statistics, Dropout off) for `steps` batches: forward,
    loss and backward, no optimizer step; compares output, loss, dL/d(input), every parameter's grad and every
    buffer (which eval must leave unchanged). Steps are numbered on from `first_step`; NaN/Inf are noted in
    `non_finite` when given."""
    tolerance = tolerance_for(dtype)
    torch_twin.model.eval()
    manual_twin.model.eval()
    errors = []
    for step in range(first_step, first_step + steps):
        x, y = next(batches)
        x_t = torch.from_numpy(x).to(device)
        x_t.requires_grad_(x_t.is_floating_point())
        torch_twin.model.zero_grad()
        t_output = torch_twin.model(x_t)
        t_loss = torch_twin.loss_fn(t_output, torch.from_numpy(y).to(device))
        t_loss.backward()
        manual_twin.model.zero_grad()
        m_output = manual_twin.model(x)
        m_loss = manual_twin.loss_fn(m_output, y)
        m_grad_input = manual_twin.model.backward(manual_twin.loss_fn.backward())
        pairs = [("output", m_output, t_output), ("loss", m_loss, t_loss)] + _input_grad_pair(x, m_grad_input, x_t.grad)
        pairs += _model_pairs(torch_twin.model, manual_twin.model, after_step=False)
        errors += _compare_pairs(step, pairs, tolerance, non_finite)
    return errors


def run_case(case, dtype: str, device: str = "cpu", steps: int | None = None, seed: int = 0) -> CaseResult:
    torch_twin, manual_twin = build_twins(case, dtype, device, seed)
    share_dropout_masks(torch_twin.model, manual_twin.model)
    batches = case.data.stream(seed, dtype)
    result = run_twins(torch_twin, manual_twin, batches, steps or case.steps, dtype, device, case.name)
    if case.eval_steps:  # train, then evaluate (steps numbered after the training steps)
        result.errors += evaluate_twins(torch_twin, manual_twin, batches, case.eval_steps, result.steps, dtype, device,
                                        result.non_finite)
    return result
