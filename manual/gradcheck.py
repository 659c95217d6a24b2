"""Finite-difference gradient checks for any manual module or loss (float64 only).

For a module, the scalar checked is L(x, θ) = Σ_k Σ G_k ⊙ output_k(x, θ) with fixed random G_k, so that
dL/dx = module.backward(G) and dL/dθ = the accumulated θ.grad (a loss's 0-d output gets G = 1). Each probe
perturbs one tensor v along a direction d (one element: d = e_i; or a random vector) and compares the analytic
a = Σ dL/dv ⊙ d with the central difference quotient

    n(h) = Σ_k Σ G_k ⊙ (output_k(v + h·d) - output_k(v - h·d)) / 2h

(the outputs are subtracted before they are summed: outputs that the perturbation does not reach cancel exactly).

Error model of n(h), the bound a probe must meet (its constants, `FiniteDifferenceBound`, are set by the caller:
compare/engine/tolerances.py):
- truncation: n(h) - a = c·h² + O(h⁴) (Taylor: c = L'''/6 along d), so n(2h) - n(h) = 3c·h²: the truncation
  of n(h) is |n(h) - n(2h)|/3, measured on the run itself. That difference also carries the realised rounding
  of both quotients, so it measures the noise level as well.
- rounding: each output element is computed to a few ulps of its size, so L's terms carry ~u·Σ|G ⊙ output|
  (S, the sum of the loss's terms, measured at v), and the quotient ~u·S/h; the analytic dot a adds
  ~u·Σ|dL/dv ⊙ d|. The step actually taken is fl(v + h·d) - fl(v - h·d), which is what a is computed along.
    allowed = truncation_factor·|n(h) - n(2h)| + rounding_ulps·u·(S/h + Σ|dL/dv ⊙ d|),   u = 2^-53
A wrong derivative misses it by orders of magnitude: the bound tracks the size of the loss (131k summed terms
give a larger S than 10), not a fixed relative error.

Which probes: a tensor of up to `exhaustive_up_to` elements is probed element by element (every element). A
larger one along `directions` random directions d ~ N(0, 1) (as JAX's check_grads and torch's
gradcheck(fast_mode=True): vᵀ·J·d analytic vs the directional difference), each of which sees an error anywhere in
the tensor, plus `samples` single elements drawn at random and the element of the largest |gradient|.

Kinks: a module may declare the input values where it is not differentiable in its first input, as the
attribute `kinks` (ReLU: (0.0,); Hardtanh: (min_val, max_val); a user's PReLU: (0.0,)). Elements of the first
input within reach of a kink (|x - kink| <= 2·2h·|d|, the longest step taken, with a factor 2) are left out: an
element probe skips them, a direction does not move them. Inside a model (a ReLU between two layers) the kink is
met by an intermediate value: every submodule with `kinks` is watched during the probes, and a probe whose
perturbed forwards put some element of such a module's input on another side of a kink than the unperturbed
forward did is taken again at h/8, then h/64, and dropped if it still crosses. `GradcheckResult.skipped` counts
the elements and the probes left out, per tensor.

The perturbed forwards run under `manual.no_grad()`: they save nothing, so they neither lock the arrays being
perturbed (saved arrays are read-only until backward) nor disturb the backward already taken.

`manual.gradcheck(module, inputs, ...)` (this module is callable, as `torch.autograd.gradcheck` is a
function) probes every element with torch's pass rule |a - n| <= atol + rtol·|n| and returns True or raises.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from manual.nn.grad_mode import no_grad

UNIT_ROUNDOFF = 2.0 ** -53  # float64


@dataclass(frozen=True)
class FiniteDifferenceBound:
    """allowed = truncation_factor·|n(h) - n(2h)| + rounding_ulps·(the probe's rounding scale); see the docstring."""
    truncation_factor: float
    rounding_ulps: float

    def allowed(self, probe: Probe) -> float:
        return self.truncation_factor * abs(probe.numeric - probe.numeric_2h) + self.rounding_ulps * probe.rounding

    def terms(self, probe: Probe) -> str:
        truncation = self.truncation_factor * abs(probe.numeric - probe.numeric_2h)
        return (f"{self.truncation_factor:g}·|n(h) - n(2h)| ({truncation:.3g}) + {self.rounding_ulps:g}·u·(S/h + "
                f"Σ|grad ⊙ d|) ({self.rounding_ulps * probe.rounding:.3g})")


@dataclass(frozen=True)
class Probe:
    """One comparison: along an element (`where` its index) or a random direction (`where` 'direction k')."""
    tensor: str
    where: tuple | str
    analytic: float
    numeric: float  # n(h)
    numeric_2h: float  # n(2h)
    rounding: float  # u·(S/h + Σ|dL/dv ⊙ d|)
    step: float  # h (smaller than the check's where a larger one crossed a kink inside the model)

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)

    def place(self) -> str:
        return f"{self.tensor}{list(self.where)}" if isinstance(self.where, tuple) else f"{self.tensor} {self.where}"

    def at(self, eps: float) -> str:
        return self.place() + ("" if self.step == eps else f" (step h {self.step:g})")


@dataclass
class GradcheckResult:
    probes: list[Probe]
    eps: float
    skipped: dict[str, int] = field(default_factory=dict)  # elements left out near a declared kink, per tensor

    def ratios(self, bound: FiniteDifferenceBound) -> np.ndarray:
        """|a - n| / allowed per probe (a probe passes at <= 1)."""
        return np.array([p.error / bound.allowed(p) if p.error else 0.0 for p in self.probes])

    def passed(self, bound: FiniteDifferenceBound) -> bool:
        return bool((self.ratios(bound) <= 1).all())

    def worst(self, bound: FiniteDifferenceBound) -> Probe | None:
        ratios = self.ratios(bound)
        return self.probes[int(np.argmax(ratios))] if ratios.size else None

    def describe(self, bound: FiniteDifferenceBound) -> str:
        """How many probes failed and the worst one, with the bound's terms; or how many passed."""
        ratios = self.ratios(bound)
        directions = sum(not isinstance(p.where, tuple) for p in self.probes)
        counts = f"{len(self.probes) - directions} elements and {directions} random directions, step h {self.eps:g}"
        skipped = {name: count for name, count in self.skipped.items() if count}
        counts += f"; left out near a declared kink: {skipped}" if skipped else ""
        worst = self.worst(bound)
        if worst is None:
            return f"nothing to probe ({counts})"
        text = (f"worst at {worst.at(self.eps)}: analytic {worst.analytic:.12g} vs numeric {worst.numeric:.12g}, "
                f"|difference| {worst.error:.3g} {'<=' if worst.error <= bound.allowed(worst) else '>'} "
                f"allowed {bound.allowed(worst):.3g} = {bound.terms(worst)}")
        failing = int((ratios > 1).sum())
        return (f"{failing} of {len(self.probes)} probes fail ({counts}); " if failing
                else f"all {len(self.probes)} probes pass ({counts}); ") + text

    def mismatches(self, atol: float, rtol: float) -> dict[str, int]:
        """Probes failing torch's rule |a - n| <= atol + rtol·|n|, per tensor."""
        counts: dict[str, int] = {}
        for p in self.probes:
            counts[p.tensor] = counts.get(p.tensor, 0) + int(not p.error <= atol + rtol * abs(p.numeric))
        return counts


def flat_outputs(value) -> list:
    """A module's outputs in order, nested tuples flattened: one gradient per array goes to its backward."""
    return [leaf for item in value for leaf in flat_outputs(item)] if isinstance(value, tuple) else [value]


def _require_float64(owner: str, *arrays) -> None:
    for array in arrays:
        if array.dtype != np.float64:
            raise TypeError(f"gradcheck({owner}): finite differences need float64 tensors, got {array.dtype}")


def kink_distance(module, x: np.ndarray) -> np.ndarray | None:
    """How far each element of `x` is from the nearest input value the module declares as a kink (None: none)."""
    kinks = tuple(getattr(module, "kinks", ()) or ())
    if not kinks:
        return None
    return np.min([np.abs(x - kink) for kink in kinks], axis=0)


class _KinkWatch:
    """While active, records on which side of its declared kinks the input of every submodule with `kinks` lies
    (Σ_k sign(x - kink_k) per element), forward by forward: a probe whose perturbed forwards put some element on
    another side than the unperturbed forward did has stepped across a kink inside the model (a ReLU between two
    layers), where the quotient measures no derivative."""

    def __init__(self, module):
        modules = module.modules() if hasattr(module, "modules") else [module]
        self.watched = [m for m in modules if tuple(getattr(m, "kinks", ()) or ())]
        self.current: list[np.ndarray] = []

    def __enter__(self):
        for m in self.watched:
            object.__setattr__(m, "forward", self._watching(m.forward, tuple(m.kinks)))
        return self

    def __exit__(self, *exc):
        for m in self.watched:
            m.__dict__.pop("forward", None)

    def _watching(self, forward, kinks):
        def watched(*args, **kwargs):
            x = np.asarray(args[0])
            self.current.append(np.sum([np.sign(x - kink) for kink in kinks], axis=0).astype(np.int8))
            return forward(*args, **kwargs)
        return watched

    def sides(self, run) -> tuple[Any, list[np.ndarray]]:
        """run()'s result and the sides its forward recorded."""
        self.current = []
        return run(), self.current


class _Prober:
    """The probes of one tensor `values` (perturbed in place and restored bit for bit) of the scalar L."""

    def __init__(self, outputs, weights, terms: float, eps: float, watch: _KinkWatch,
                 bound: FiniteDifferenceBound | None = None):
        self.outputs, self.weights, self.terms, self.eps, self.watch = outputs, weights, terms, eps, watch
        self.bound = bound
        self.base_sides: list[np.ndarray] = watch.sides(outputs)[1]

    def _crossed(self, sides: list[np.ndarray]) -> bool:
        return len(sides) != len(self.base_sides) or any(
            a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(sides, self.base_sides, strict=False))

    def _difference(self, values, original, step_of) -> tuple[float, np.ndarray] | None:
        """Σ G ⊙ (output(v + step) - output(v - step)) and the step actually taken (v + step) - (v - step);
        None when a perturbed forward stepped across a declared kink inside the model."""
        plus, minus = step_of(original, +1), step_of(original, -1)
        values[...] = plus
        high, high_sides = self.watch.sides(self.outputs)
        values[...] = minus
        low, low_sides = self.watch.sides(self.outputs)
        values[...] = original
        if self._crossed(high_sides) or self._crossed(low_sides):
            return None
        total = sum(float(np.sum(w * (hi - lo))) for w, hi, lo in zip(self.weights, high, low, strict=True))
        return total, plus - minus

    def probe(self, name, where, values, original, gradient, direction) -> Probe | None:
        """One probe along `direction` (an element index or an array), at steps h and 2h; where that crosses a
        kink inside the model, again at h/8, then h/64; None if all three do."""
        for h in (self.eps, self.eps / 8, self.eps / 64):
            probe = self._probe_at(h, name, where, values, original, gradient, direction)
            if probe is not None:
                return probe
        return None

    def _probe_at(self, h0, name, where, values, original, gradient, direction) -> Probe | None:
        """n(h0), and n(2h0) unless the rounding term alone already admits n(h0) (with `bound`): the truncation
        term is then recorded as 0, which only makes the probe's recorded allowance smaller than its full one."""
        quotients, taken, rounding = [], None, 0.0
        for h in (h0, 2 * h0):
            if isinstance(direction, tuple):  # one element: only it moves
                def step_of(v, sign, h=h):
                    moved = v.copy()
                    moved[direction] += sign * h
                    return moved
            else:
                def step_of(v, sign, h=h):
                    return v + sign * h * direction
            difference = self._difference(values, original, step_of)
            if difference is None:
                return None
            total, actual = difference
            quotients.append(total / (2 * h))
            if taken is None:
                taken = actual / (2 * h)  # the direction the h-quotient actually measured
                along = gradient * taken
                rounding = UNIT_ROUNDOFF * (self.terms / h0 + float(np.sum(np.abs(along))))
                analytic = float(np.sum(along))
                if self.bound is not None and abs(analytic - quotients[0]) <= self.bound.rounding_ulps * rounding:
                    quotients.append(quotients[0])
                    break
        return Probe(name, where, analytic, quotients[0], quotients[1], rounding, h0)


def _probe_tensor(prober: _Prober, name: str, values: np.ndarray, gradient: np.ndarray, distance, *,
                  exhaustive_up_to: float, directions: int, samples: int, rng) -> tuple[list[Probe], int]:
    """The probes of one tensor (see "Which probes" above) and how many elements were left out near a kink."""
    original = values.copy()
    reach = 4 * prober.eps  # an element moves by at most 2h; twice that keeps it clear of the kink
    usable = np.ones(values.shape, bool) if distance is None else distance > reach
    probes: list[Probe | None] = []
    with no_grad():
        if values.size <= exhaustive_up_to:
            chosen = [tuple(int(i) for i in index) for index in np.argwhere(usable)]
        else:
            for k in range(directions):
                direction = rng.standard_normal(values.shape)
                if distance is not None:
                    direction[distance <= reach * np.abs(direction)] = 0.0
                probes.append(prober.probe(name, f"direction {k}", values, original, gradient, direction))
            flat = np.flatnonzero(usable.ravel())
            picks = list(rng.choice(flat, size=min(samples, flat.size), replace=False)) if flat.size else []
            if flat.size:
                picks.append(flat[np.argmax(np.abs(gradient.ravel()[flat]))])
            chosen = sorted({tuple(int(i) for i in np.unravel_index(p, values.shape)) for p in picks})
        for index in chosen:
            probes.append(prober.probe(name, index, values, original, gradient, index))
    kept = [probe for probe in probes if probe is not None]
    return kept, int(values.size - np.count_nonzero(usable)) + len(probes) - len(kept)


def check_call(module, arguments, *, target: bool = False, grad_outputs=None, eps: float = 1e-6, seed: int = 0,
               exhaustive_up_to: float = 64, directions: int = 3, samples: int = 16,
               bound: FiniteDifferenceBound | None = None) -> GradcheckResult:
    """Probe `module(*arguments)`'s backward (every float input and every parameter) with central differences.

    Several inputs, several outputs, a loss's target: the float arguments are perturbed, except the target (the
    last argument when `target`); integer ones (indices) are held fixed. A tuple of outputs is checked through
    L = Σ_k Σ G_k ⊙ output_k, with `backward(G_1, G_2, ...)`; a 0-d output of a loss gets G = None (1). backward
    returns dL/d(input) for a single input, otherwise a tuple with one entry per input (None for an integer one).
    Judge the result with `result.passed(bound)` (compare.engine.tolerances.GRADCHECK_TOLERANCE). Given the same
    `bound` here, a probe that its rounding term alone admits skips n(2h) (half the forwards of a passing check;
    the verdict is the same, its truncation term recorded as 0).
    """
    arguments = [np.array(a, copy=True) for a in arguments]
    inputs = arguments[:-1] if target else arguments
    varied = {f"input{i}" if i else "input": a for i, a in enumerate(inputs) if a.dtype.kind == "f"}
    params = dict(module.named_parameters())
    _require_float64(module.label(), *varied.values(), *(p.data for p in params.values()))
    saved_state = module.state_dict()  # forward may update buffers (BatchNorm); put them back afterwards

    def outputs():
        result = module(*(a.copy() for a in arguments))  # copies: what forward saved is not perturbed later
        return tuple(flat_outputs(result))  # nested ones (LSTM's (output, (h_n, c_n))) in order

    first = outputs()
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = tuple(None if target and np.ndim(out) == 0 else rng.standard_normal(np.shape(out))
                             for out in first)
    module.zero_grad()
    grads = module.backward(*grad_outputs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    names = [f"input{i}" if i else "input" for i in range(len(inputs))]
    analytic = {name: grad for name, grad in zip(names, grads, strict=True) if name in varied}
    analytic.update({name: p.grad if p.grad is not None else np.zeros_like(p.data) for name, p in params.items()})
    tensors = {**varied, **{name: p.data for name, p in params.items()}}
    weights = [1.0 if g is None else g for g in grad_outputs]
    terms = sum(float(np.sum(np.abs(w * out))) for w, out in zip(weights, first, strict=True))
    result = GradcheckResult([], eps)
    with _KinkWatch(module) as watch, no_grad():
        prober = _Prober(outputs, weights, terms, eps, watch, bound)
        _probe_all(prober, result, tensors, analytic, module, exhaustive_up_to=exhaustive_up_to,
                   directions=directions, samples=samples, rng=rng)
    module.load_state_dict(saved_state)
    return result


def _probe_all(prober, result, tensors, analytic, module, *, rng, **options) -> None:
    for name, values in tensors.items():
        gradient = np.zeros_like(values) if analytic[name] is None else np.asarray(analytic[name], dtype=np.float64)
        distance = kink_distance(module, values) if name == "input" else None
        probes, result.skipped[name] = _probe_tensor(prober, name, values, gradient, distance, rng=rng, **options)
        result.probes += probes


def check_module(module, x: np.ndarray, grad_output: np.ndarray | None = None, eps: float = 1e-6, seed: int = 0,
                 **probes) -> GradcheckResult:
    """`check_call` for a module of one input."""
    return check_call(module, (x,), grad_outputs=None if grad_output is None else (grad_output,), eps=eps, seed=seed,
                      **probes)


def check_loss(loss_fn, input: np.ndarray, target, grad_output=None, eps: float = 1e-6, seed: int = 0,
               **probes) -> GradcheckResult:
    """`check_call` for a loss: the input is perturbed, the target is not."""
    return check_call(loss_fn, (input, target), target=True, eps=eps, seed=seed,
                      grad_outputs=None if grad_output is None else (grad_output,), **probes)


class GradcheckError(RuntimeError):
    """Raised by `gradcheck` when an analytic gradient disagrees with central differences."""


def gradcheck(module, inputs, *, grad_output=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, seed: int = 0) -> bool:
    """`torch.autograd.gradcheck` for a manual module or loss: True when every element of dL/d(input) and of
    every parameter's gradient satisfies |analytic - numeric| <= atol + rtol·|numeric| (torch's rule and
    defaults); otherwise raises GradcheckError naming the worst element (or returns False).

    `inputs`: the input array, or a tuple `(input,)` for a module and `(input, target)` for a loss (a
    loss is recognised by its two-argument forward). float64 only, as torch's gradcheck in practice.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    if len(inputs) == 2:
        result = check_loss(module, inputs[0], inputs[1], grad_output, eps, seed, exhaustive_up_to=np.inf)
    elif len(inputs) == 1:
        result = check_module(module, inputs[0], grad_output, eps, seed, exhaustive_up_to=np.inf)
    else:
        raise TypeError(f"gradcheck({module.label()}): inputs must be (input,) or (input, target), "
                        f"got {len(inputs)} values")
    failing = {name: count for name, count in result.mismatches(atol, rtol).items() if count}
    if failing and raise_exception:
        worst = max(result.probes, key=lambda p: p.error - rtol * abs(p.numeric))
        raise GradcheckError(f"gradcheck({module.label()}): Jacobian mismatch, elements outside "
                             f"atol={atol}, rtol={rtol}: {failing}; worst at {worst.place()}: analytic "
                             f"{worst.analytic:.12g} vs numeric {worst.numeric:.12g}")
    return not failing


class _CallableModule(types.ModuleType):
    """`manual.gradcheck(...)` calls `gradcheck`; `manual.gradcheck.check_module` stays reachable."""

    def __call__(self, *args, **kwargs):
        return gradcheck(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
