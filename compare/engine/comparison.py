"""How far apart manual and torch are: per tensor, the largest difference, where it is, and how much of the allowed
error it uses.

`compare_arrays` compares one pair element by element (rtol/atol, compare/engine/tolerances.py). `compare_step` compares
all of a step's tensors at once: it flattens them into one float64 vector per side and, when the difference is
finite everywhere (no NaN/Inf on either side: the usual case), takes every tensor's maximum and its position in a
few vectorised operations; otherwise it falls back to the pair-by-pair comparison, which handles NaN/Inf and
notes them (compare/engine/non_finite.py). A finite difference everywhere also means there is nothing to note.
Under a float32 error model the verdict needs the torch-vs-float64 spread of neighbouring steps, so
`compare_step` returns the step's statistics and `judge` turns a run's statistics into errors at its end.
The harness takes both as NumPy columns (`compare_step_columns`, `judge_columns`: compare/engine/error_table.py), not
as one TensorError per tensor per step.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from compare.engine.error_table import ErrorColumns, TensorError
from compare.engine.non_finite import NonFiniteLog
from compare.engine.tolerances import ErrorModel, Tolerance


def missing(step: int, name: str, side: str) -> TensorError:
    return TensorError(step, f"{name} (missing on {side})", np.inf, np.inf, np.inf, (), np.nan, np.nan)


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b|, 0 where both hold the same NaN/±Inf, Inf where they hold different ones."""
    with np.errstate(invalid="ignore", over="ignore"):
        same_special = (a == b) | (np.isnan(a) & np.isnan(b))
        diff = np.where(same_special, 0.0, np.abs(a - b))
    return np.where(np.isnan(diff), np.inf, diff)


def compare_arrays(step: int, name: str, manual_value, torch_value, tolerance: Tolerance) -> TensorError:
    """Elementwise comparison; NaN/Inf count as equal only where both sides have the same one."""
    a = np.asarray(manual_value, dtype=np.float64)
    b = np.asarray(torch_value, dtype=np.float64)
    if a.shape != b.shape:
        return TensorError(step, f"{name} (shape {a.shape} vs {b.shape})", np.inf, np.inf, np.inf, (), np.nan, np.nan)
    if a.size == 0:
        return TensorError(step, name, 0.0, 0.0, 0.0, (), np.nan, np.nan)
    diff = _differences(a, b)
    allowed = tolerance.allowed(np.where(np.isfinite(b), b, 0.0))
    ratio = diff / allowed
    index = np.unravel_index(np.argmax(ratio), a.shape)
    scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0))
    max_rel = float(diff.max()) / scale if scale > 0 else float(diff.max())
    return TensorError(step, name, float(diff.max()), max_rel, float(ratio[index]), tuple(int(i) for i in index),
                       float(a[index]), float(b[index]), float(np.broadcast_to(allowed, a.shape)[index]), scale)


def _segment_argmax(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
    """Per segment (all non-empty, no NaN): the maximum and the flat position of its first occurrence (every
    segment holds one, so the first hit at or after a segment's start is its own)."""
    maxima = np.maximum.reduceat(values, starts)
    hits = np.flatnonzero(values == np.repeat(maxima, sizes))
    return maxima, hits[np.searchsorted(hits, starts)]


@functools.lru_cache(maxsize=256)
def _layout(sizes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, starts) of the segments of a step's flattened tensors, read-only: a run compares the same tensors
    at every step (kept for the last few hundred layouts)."""
    array = np.array(sizes, dtype=np.int64)
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(array[:-1], out=starts[1:])
    array.setflags(write=False)
    starts.setflags(write=False)
    return array, starts


@dataclass
class StepStats:
    """One step's comparison under an error model, before its verdict: per tensor (non-empty, same shape on both
    sides) the largest difference, the element judged (its position, values and difference: the largest
    difference's, or the one nearest its bound where the bound varies by element, `add_propagated`), torch's
    largest magnitude and, once the float64 reference has run, torch's largest difference from it (`spread`, NaN
    until then) and its gradient error carried through the step at the judged element (`propagated`, 0 where
    none). `manual_flat` and `torch_flat`, both sides' values flattened, only until the step's reference has run
    or was not wanted (`forget_values`): a run keeps its steps' statistics to its end, not their values."""
    step: int
    names: list
    shapes: list
    max_abs: np.ndarray
    position: np.ndarray
    manual: np.ndarray
    torch: np.ndarray
    magnitude: np.ndarray
    spread: np.ndarray
    manual_flat: np.ndarray | None
    torch_flat: np.ndarray | None
    starts: np.ndarray
    sizes: np.ndarray
    judged_abs: np.ndarray  # |manual - torch| at `position`
    propagated: np.ndarray

    def forget_values(self) -> None:
        self.manual_flat = self.torch_flat = None

    def beyond_floor(self, model: ErrorModel) -> bool:
        """Some tensor differs by more than the floor alone allows (so its spread decides)."""
        return bool(np.any(self.max_abs > model.floor(self.magnitude)))

    def add_reference(self, reference_values: list) -> None:
        """torch's largest |t - r| per tensor, over its finite elements, from the reference's value of each tensor
        in `names` (tensors or arrays; one missing or of another shape: no spread)."""
        reference_values = [None if r is None else as_array(r) for r in reference_values]
        ok = [r is not None and np.shape(r) == shape for r, shape in zip(reference_values, self.shapes, strict=True)]
        if not all(ok):
            reference_values = [r if good else np.full(shape, np.nan) for r, good, shape
                                in zip(reference_values, ok, self.shapes, strict=True)]
        r = _flatten(reference_values, self.sizes)
        assert self.torch_flat is not None, "the reference is added in the step it ran for"
        with np.errstate(invalid="ignore"):
            spread = np.abs(self.torch_flat - r)
        spread[~np.isfinite(spread)] = 0.0
        self.spread = np.maximum.reduceat(spread, self.starts) if len(self.starts) else np.zeros(0)

    def add_start_magnitudes(self, magnitudes: list) -> None:
        """Per name, the largest magnitude the tensor held before the step (None: not known), taken into the
        magnitude M: an update that cancels, p - lr·g ≈ 0, rounds at the size of its terms, not of its result."""
        for k, magnitude in enumerate(magnitudes):
            if magnitude is not None and magnitude > self.magnitude[k]:
                self.magnitude[k] = magnitude

    def add_samples(self, samples: list, model: ErrorModel) -> None:
        """More samples of torch's own error at this step, per name (None: none), taken into the spread of each
        tensor of fewer than `model.least_samples` elements (a larger one pools as many over its elements): torch's
        float32 result against the float64 reference on the batch re-ordered (compare/engine/reference.py's
        `rounding_samples`)."""
        for k, sample in enumerate(samples):
            if sample is not None and self.sizes[k] < model.least_samples and sample > self.spread[k]:
                self.spread[k] = sample

    def beyond_own_bound(self, model: ErrorModel, prefixes: tuple, smaller_than: int | None = None) -> bool:
        """Some tensor whose name starts with one of `prefixes` (and that has fewer than `smaller_than` elements)
        differs by more than the bound from this step's own spread and magnitude (after `add_reference`); the bound
        pooled over neighbouring steps is never below it."""
        wanted = np.array([name.startswith(prefixes) for name in self.names], dtype=bool)
        if smaller_than is not None:
            wanted &= self.sizes < smaller_than
        return bool(np.any(wanted & (self.judged_abs > model.allowed(self.spread, self.magnitude))))

    def add_propagated(self, propagated: list, model: ErrorModel) -> None:
        """torch's gradient error carried through the step, per element (per name: an array, or None;
        compare/engine/reference.py). A tensor's bound then varies by element, allowed_i = model.allowed(S +
        propagated_i, M), so the element judged is the one with the largest |m_i - t_i| - spread_factor ·
        propagated_i: the tensor is within its bounds exactly when that element is within its own."""
        assert self.manual_flat is not None and self.torch_flat is not None, "added in the step it ran for"
        for k, (values, shape, start, size) in enumerate(zip(propagated, self.shapes, self.starts.tolist(),
                                                             self.sizes.tolist(), strict=True)):
            if values is None or np.shape(values) != shape:
                continue
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            diff = _differences(self.manual_flat[start:start + size], self.torch_flat[start:start + size])
            at = int(np.argmax(diff - model.spread_factor * values))
            self.position[k], self.judged_abs[k], self.propagated[k] = start + at, diff[at], values[at]
            self.manual[k], self.torch[k] = self.manual_flat[start + at], self.torch_flat[start + at]


def _flatten(values: list, sizes: np.ndarray) -> np.ndarray:
    if not values:
        return np.zeros(0)
    return np.concatenate(values, axis=None, dtype=np.float64)


def as_array(value) -> np.ndarray:
    """A NumPy view of a value of either side (torch tensors on any device, arrays, Python numbers)."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            value = value.detach()
        return (value if value.is_cpu else value.cpu()).numpy()
    return np.asarray(value)


def compare_step(step: int, pairs, tolerance: Tolerance, non_finite: NonFiniteLog | None,
                 model: ErrorModel | None = None):
    """Compare (name, manual value, torch value) pairs (None: missing on that side, which fails).

    Without `model`: a list of TensorErrors (elementwise rtol/atol). With `model`: (errors decided now: missing
    tensors, shape mismatches, empty tensors; StepStats of the rest, judged at the end of the run)."""
    decided, rest = compare_step_columns(step, pairs, tolerance, non_finite, model)
    return decided + rest.rows() if model is None else (decided, rest)


def compare_step_columns(step: int, pairs, tolerance: Tolerance, non_finite: NonFiniteLog | None,
                         model: ErrorModel | None = None):
    """`compare_step` for the harness: (errors decided one by one, ErrorColumns of the rest) without `model`,
    (the same, StepStats) with it."""
    decided: list[TensorError] = []
    names, shapes, size_list, manual_values, torch_values = [], [], [], [], []
    for name, m_value, t_value in pairs:
        if m_value is None or t_value is None:
            decided.append(missing(step, name, "manual" if m_value is None else "torch"))
            continue
        m_array = m_value if type(m_value) is np.ndarray else as_array(m_value)
        t_array = t_value if type(t_value) is np.ndarray else as_array(t_value)
        shape, size = t_array.shape, t_array.size
        if m_array.shape != shape or not size:
            decided.append(compare_arrays(step, name, m_array, t_array, tolerance))
        else:
            names.append(name)
            shapes.append(shape)
            size_list.append(size)
            manual_values.append(m_array)
            torch_values.append(t_array)
    sizes, starts = _layout(tuple(size_list))
    both = _flatten(manual_values + torch_values, sizes)  # one copy for the two sides
    a, b = both[:len(both) // 2], both[len(both) // 2:]
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
    finite = bool(np.isfinite(diff).all())
    if not finite and non_finite is not None:
        for name, m_array, t_array in zip(names, manual_values, torch_values, strict=True):
            non_finite.note(step, name, m_array, t_array)
    if model is None:
        return decided, _judge_elementwise(step, names, shapes, a, b, diff, finite, starts, sizes, tolerance)
    if not finite:
        diff = _differences(a, b)
    if len(names):
        max_abs, position = _segment_argmax(diff, starts, sizes)
        with np.errstate(invalid="ignore"):  # a finite difference everywhere: b is finite everywhere
            magnitude = np.maximum.reduceat(np.abs(b) if finite else np.where(np.isfinite(b), np.abs(b), 0.0),
                                            starts)
    else:
        max_abs = position = magnitude = np.zeros(0)
    stats = StepStats(step, names, shapes, max_abs, position, a[position], b[position], magnitude,
                      np.full(len(names), np.nan), a, b, starts, sizes, max_abs.copy(), np.zeros(len(names)))
    return decided, stats


def _judge_elementwise(step, names, shapes, a, b, diff, finite, starts, sizes, tolerance) -> ErrorColumns:
    if not names:
        return ErrorColumns.of([])
    if not finite:
        return ErrorColumns.of([compare_arrays(step, name, a[s:s + n].reshape(shape), b[s:s + n].reshape(shape),
                                               tolerance)
                                for name, shape, s, n in zip(names, shapes, starts.tolist(), sizes.tolist(),
                                                             strict=True)])
    allowed = tolerance.allowed(b)
    ratio, position = _segment_argmax(diff / allowed, starts, sizes)
    max_abs = np.maximum.reduceat(diff, starts)
    scale = np.maximum.reduceat(np.abs(b), starts)
    max_rel = np.divide(max_abs, scale, out=max_abs.copy(), where=scale > 0)
    return ErrorColumns(step, names, shapes, max_abs, max_rel, ratio, (position - starts).tolist(), a[position],
                        b[position], allowed[position], scale)


def _sliding_max(values: np.ndarray, width: int) -> np.ndarray:
    """Along axis 0: the maximum over each row and its (width - 1) / 2 neighbours on either side."""
    half = width // 2
    padded = np.pad(values, [(half, half)] + [(0, 0)] * (values.ndim - 1), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded, width, axis=0).max(axis=-1)


def judge(stats: list[StepStats], model: ErrorModel) -> list[TensorError]:
    """`judge_columns`, as TensorErrors."""
    return [error for columns in judge_columns(stats, model) for error in columns.rows()]


def judge_columns(stats: list[StepStats], model: ErrorModel) -> list[ErrorColumns]:
    """The errors of a run's steps under `model`: each tensor's bound pools its spread and magnitude over the
    steps within ±model.window among the steps that compare the same tensors (the training steps; the eval
    steps), see compare/engine/tolerances.py."""
    phases: dict[tuple, list[int]] = {}
    for i, step_stats in enumerate(stats):
        phases.setdefault(tuple(step_stats.names), []).append(i)
    bounds = [np.zeros(0)] * len(stats)
    width = 2 * model.window + 1
    for names, members in phases.items():
        if not names:
            continue
        spread = np.array([stats[i].spread for i in members])
        magnitude = np.array([stats[i].magnitude for i in members])
        spread = _sliding_max(np.where(np.isnan(spread), 0.0, spread), width)
        spread += np.array([stats[i].propagated for i in members])  # at each step's judged element
        for i, bound in zip(members, model.allowed(spread, _sliding_max(magnitude, width)), strict=True):
            bounds[i] = bound
    columns = []
    for s, bound in zip(stats, bounds, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(s.judged_abs == 0, 0.0, s.judged_abs / bound)
            max_rel = np.where(s.magnitude > 0, s.max_abs / np.where(s.magnitude > 0, s.magnitude, 1), s.max_abs)
        columns.append(ErrorColumns(s.step, s.names, s.shapes, s.max_abs, max_rel, ratio,
                                    (s.position - s.starts).tolist() if len(s.names) else [], s.manual, s.torch,
                                    bound, s.magnitude))
    return columns


def compare_once(pairs, tolerance: Tolerance, model: ErrorModel | None, reference: dict | None,
                 propagated: dict | None = None, start_magnitudes: dict | None = None,
                 samples: dict | None = None) -> list[TensorError]:
    """One evaluation (step 0) of (name, manual, torch) pairs: elementwise without `model`; with it, the error
    model, torch's spread measured against `reference` (name -> float64 value) on this evaluation alone, and,
    after an optimizer step, torch's gradient error carried through it (`propagated`: name -> per element), each
    tensor's largest magnitude before it (`start_magnitudes`: name -> float) and more samples of torch's own
    error (`samples`: name -> float, the batch re-ordered; compare/engine/reference.py)."""
    return compare_evaluations([(pairs, reference)], tolerance, model, propagated, start_magnitudes, samples)


def compare_evaluations(evaluations: list, tolerance: Tolerance, model: ErrorModel | None,
                        propagated: dict | None = None, start_magnitudes: dict | None = None,
                        samples: dict | None = None) -> list[TensorError]:
    """Several evaluations of the same tensors, e.g. one module under several upstream gradients: a list of
    (pairs, reference) numbered as steps 0, 1, ... Under `model` each tensor's bound pools torch's spread and
    magnitude over the evaluations (as over neighbouring training steps, compare/engine/tolerances.py): one evaluation
    of a tensor of a few elements is a single sample of a rounding error, which can be ~0 by luck. `propagated`,
    `start_magnitudes` and `samples` (compare_once's) apply to every evaluation."""
    if model is None:
        return [error for step, (pairs, _) in enumerate(evaluations)
                for error in compare_step(step, pairs, tolerance, None)]
    decided, all_stats = [], []
    for step, (pairs, reference) in enumerate(evaluations):
        step_decided, stats = compare_step(step, pairs, tolerance, None, model)
        stats.add_reference([None if reference.get(name) is None else as_array(reference[name])
                             for name in stats.names])
        if start_magnitudes is not None:
            stats.add_start_magnitudes([start_magnitudes.get(name) for name in stats.names])
        if propagated is not None:
            stats.add_propagated([propagated.get(name) for name in stats.names], model)
        if samples is not None:
            stats.add_samples([samples.get(name) for name in stats.names], model)
        decided += step_decided
        all_stats.append(stats)
    return decided + judge(all_stats, model)
