"""Finite-difference gradient checks for any manual module or loss (float64 only).

For a module, the scalar checked is L(x, θ) = Σ G ⊙ module(x) with a fixed random G, so that
dL/dx = module.backward(G) and dL/dθ = the accumulated θ.grad. For a loss, L = loss(input, target)
(weighted by a fixed G when reduction='none'). Every element of every tensor is perturbed:

    numeric_i = (L(v + ε e_i) - L(v - ε e_i)) / 2ε        error O(ε²) from truncation, O(δ/ε) from rounding

and compared with the analytic value by  |a - n| / max(|a|, |n|, FLOOR).  FLOOR keeps gradients that are
0 on both sides from dividing rounding noise (~1e-16·|L|/ε ≈ 1e-10 for |L| ~ 1) by zero.

The perturbed forwards run under `manual.no_grad()`: they save nothing, so they neither lock the arrays being
perturbed (saved arrays are read-only until backward) nor disturb the backward already taken.

`manual.gradcheck(module, inputs, ...)` (this module is callable, as `torch.autograd.gradcheck` is a
function) wraps both checks with torch's pass rule |a - n| <= atol + rtol·|n| and returns True or raises.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import numpy as np

from manual.nn.grad_mode import no_grad

FLOOR = 1e-3


@dataclass
class GradcheckResult:
    worst_error: float
    where: tuple[str, tuple]  # (tensor name, index) of the worst element
    analytic: float
    numeric: float
    per_tensor: dict[str, float] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)  # elements failing |a - n| <= atol + rtol·|n|

    def passed(self, tolerance: float = 1e-6) -> bool:
        return self.worst_error <= tolerance

    def __str__(self):
        name, index = self.where
        return (f"worst relative error {self.worst_error:.3e} at {name}{list(index)}: "
                f"analytic {self.analytic:.12g} vs numeric {self.numeric:.12g}")


def flat_outputs(value) -> list:
    """A module's outputs in order, nested tuples flattened: one gradient per array goes to its backward."""
    return [leaf for item in value for leaf in flat_outputs(item)] if isinstance(value, tuple) else [value]


def _require_float64(owner: str, *arrays) -> None:
    for array in arrays:
        if array.dtype != np.float64:
            raise TypeError(f"gradcheck({owner}): finite differences need float64 tensors, got {array.dtype}")


def _compare(scalar_fn, tensors: dict[str, np.ndarray], analytic: dict[str, np.ndarray], eps: float,
             atol: float = 1e-5, rtol: float = 1e-3):
    worst = GradcheckResult(-1.0, ("", ()), 0.0, 0.0)
    for name, values in tensors.items():
        numeric = np.empty_like(values)
        with no_grad():
            for index in np.ndindex(values.shape):
                original = values[index]
                values[index] = original + eps
                plus = scalar_fn()
                values[index] = original - eps
                minus = scalar_fn()
                values[index] = original
                numeric[index] = (plus - minus) / (2 * eps)
        errors = np.abs(analytic[name] - numeric) / np.maximum(np.maximum(np.abs(analytic[name]), np.abs(numeric)), FLOOR)
        worst.per_tensor[name] = float(errors.max(initial=0.0))
        worst.mismatches[name] = int(np.count_nonzero(~(np.abs(analytic[name] - numeric) <= atol + rtol * np.abs(numeric))))
        if errors.size and errors.max() > worst.worst_error:
            index = np.unravel_index(np.argmax(errors), errors.shape)
            worst.worst_error, worst.where = float(errors[index]), (name, tuple(int(i) for i in index))
            worst.analytic, worst.numeric = float(analytic[name][index]), float(numeric[index])
    worst.worst_error = max(worst.worst_error, 0.0)
    return worst


def check_module(module, x: np.ndarray, grad_output: np.ndarray | None = None, eps: float = 1e-6, seed: int = 0,
                 atol: float = 1e-5, rtol: float = 1e-3):
    """Compare `module.backward` (input and every parameter) with central differences."""
    x = np.array(x, dtype=np.float64, copy=True)
    params = dict(module.named_parameters())
    _require_float64(module.label(), x, *(p.data for p in params.values()))
    saved_state = module.state_dict()  # forward may update buffers (BatchNorm); put them back afterwards
    output = module(x)
    if grad_output is None:
        grad_output = np.random.default_rng(seed).standard_normal(np.shape(output))
    module.zero_grad()
    analytic = {"input": module.backward(grad_output)}
    analytic.update({name: p.grad if p.grad is not None else np.zeros_like(p.data) for name, p in params.items()})
    tensors = {"input": x, **{name: p.data for name, p in params.items()}}
    result = _compare(lambda: float(np.sum(grad_output * module(x))), tensors, analytic, eps, atol, rtol)
    module.load_state_dict(saved_state)
    return result


def check_loss(loss_fn, input: np.ndarray, target, grad_output=None, eps: float = 1e-6, seed: int = 0,
               atol: float = 1e-5, rtol: float = 1e-3):
    """Compare `loss_fn.backward` with central differences with respect to the loss input."""
    input = np.array(input, dtype=np.float64, copy=True)
    _require_float64(loss_fn.label(), input)
    loss = loss_fn(input, target)
    if grad_output is None and np.ndim(loss) > 0:
        grad_output = np.random.default_rng(seed).standard_normal(np.shape(loss))
    weight = 1.0 if grad_output is None else grad_output
    analytic = {"input": loss_fn.backward(grad_output)}
    return _compare(lambda: float(np.sum(weight * loss_fn(input, target))), {"input": input}, analytic, eps, atol, rtol)


def check_call(module, arguments, *, target: bool = False, grad_outputs=None, eps: float = 1e-6, seed: int = 0):
    """`check_module` for any call `module(*arguments)`: several inputs, several outputs, a loss's target.

    The float arguments are perturbed, except the target (the last argument when `target`); integer ones
    (indices) are held fixed. A tuple of outputs is checked through L = Σ_k Σ G_k ⊙ output_k, with
    `backward(G_1, G_2, ...)`; a 0-d output of a loss gets G = None (1). backward returns dL/d(input) for a
    single input, otherwise a tuple with one entry per input (None for an integer one).
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
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
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
    result = _compare(lambda: sum(float(np.sum(w * out)) for w, out in zip(weights, outputs(), strict=True)), tensors,
                      analytic, eps)
    module.load_state_dict(saved_state)
    return result


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
        result = check_loss(module, inputs[0], inputs[1], grad_output, eps, seed, atol=atol, rtol=rtol)
    elif len(inputs) == 1:
        result = check_module(module, inputs[0], grad_output, eps, seed, atol=atol, rtol=rtol)
    else:
        raise TypeError(f"gradcheck({module.label()}): inputs must be (input,) or (input, target), "
                        f"got {len(inputs)} values")
    failing = {name: count for name, count in result.mismatches.items() if count}
    if failing and raise_exception:
        raise GradcheckError(f"gradcheck({module.label()}): Jacobian mismatch, elements outside "
                             f"atol={atol}, rtol={rtol}: {failing}; {result}")
    return not failing


class _CallableModule(types.ModuleType):
    """`manual.gradcheck(...)` calls `gradcheck`; `manual.gradcheck.check_module` stays reachable."""

    def __call__(self, *args, **kwargs):
        return gradcheck(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
