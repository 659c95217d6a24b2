"""One module or loss, manual vs torch autograd: output(s), dL/d(each input), every parameter's grad, every buffer.

The module is called with positional arguments (input, *more inputs, target): `check_pair` works on any pair of
instances (compare.testing's `assert_module_matches` calls it too), `check_module_case` on a catalogue case.
- Float arguments get gradients, except a loss's target (the last argument when `target=True`); integer ones
  (Embedding indices, class targets) are passed as they are and get none.
- A module may return one array or a tuple of them (RNN: (output, h_n)), nested ones flattened in order (LSTM's
  (output, (h_n, c_n)) is three outputs). Each output gets its own random
  dL/d(output) (a loss's 0-d output gets None, i.e. 1, as `loss.backward()`), and manual's backward takes them
  positionally: `backward(grad_output)` for one output, `backward(grad_output, grad_h_n)` for two.
- manual's backward returns dL/d(input) when the module has one input besides the target, otherwise a tuple
  with one entry per input (None for integer inputs, whose entry is not compared).
Each compared tensor is named after the argument of manual's `forward` (`grad.input`, then e.g. `grad.hx`), the output
(`output`, or `output.0`, `output.1`, ...), the parameter (`grad.weight`) or the buffer (`buffer.running_mean`).
"""
import copy
import dataclasses
import inspect

import numpy as np

import manual.nn
from compare.checks.module_reference import ModuleReference, torch_backward, torch_forward
from compare.engine.comparison import compare_once, missing
from compare.engine.error_table import TensorError
from compare.engine.masks import share_dropout_masks
from compare.engine.step_tensors import ModelTensors
from compare.engine.tolerances import error_model_for, tolerance_for
from compare.engine.twins import TORCH_DTYPES, cast_arrays, classes, seed_torch, to_numpy, to_torch
from manual.gradcheck import flat_outputs


def build_pair(case, dtype: str, seed: int = 0):
    """(torch module, manual module) with the same parameters, buffers, mode and (Dropout) masks.

    torch initialises; `case.state` (when given) overrides part of its state_dict (e.g. BatchNorm running
    statistics, tied Maxout pieces); manual loads the result.
    """
    name, kwargs = case.module
    seed_torch(seed)
    torch_module = classes("module", name)[1](**to_torch(kwargs, "cpu", TORCH_DTYPES[dtype]))
    torch_module.to(TORCH_DTYPES[dtype])
    if case.state is not None:
        state = {**torch_module.state_dict(), **case.state(np.random.default_rng(seed + 2))}
        torch_module.load_state_dict(to_torch(state, "cpu", TORCH_DTYPES[dtype]))
    manual_module = build_manual(case, dtype)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    torch_module.train(case.train)
    manual_module.train(case.train)
    share_dropout_masks(torch_module, manual_module)
    return torch_module, manual_module


def cast_float(value, dtype):
    """A float array in `dtype`; anything else (integer indices and targets) unchanged."""
    return value.astype(dtype) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


def make_arguments(case, dtype: str, seed: int = 0) -> tuple:
    """The case's positional arguments (input, *extra_inputs, target), drawn in that order from one generator."""
    rng = np.random.default_rng(seed)
    makers = (case.input, *case.extra_inputs, *(() if case.target is None else (case.target,)))
    return tuple(cast_float(np.asarray(make(rng)), dtype) for make in makers)


def build_manual(case, dtype: str = "float64"):
    """The case's manual module alone (no torch twin), in `dtype` and the case's mode; Dropout draws its own masks."""
    name, kwargs = case.module
    cls = classes("module", name)[0]
    takes_dtype = "dtype" in inspect.signature(cls).parameters
    return cls(**cast_arrays(kwargs, dtype), **({"dtype": dtype} if takes_dtype else {})).train(case.train)


def make_inputs(case, dtype: str, seed: int = 0):
    """(input, target or None): the first and the target argument of `make_arguments`."""
    arguments = make_arguments(case, dtype, seed)
    return arguments[0], (None if case.target is None else arguments[-1])


def input_names(module, count: int) -> list[str]:
    """`input` (torch's name of a first argument), then the names of `module.forward`'s next positional
    parameters (`hx`, ...); `input1`, `input2`, ... where forward takes *args."""
    names = [p.name for p in inspect.signature(module.forward).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) < count:
        names = [f"input{i}" for i in range(count)]
    return ["input", *names[1:count]]


def manual_input_grads(module, grads, count: int) -> tuple:
    """backward's result as a tuple with one entry per input (the convention in the module docstring)."""
    if count == 1 and not isinstance(grads, tuple):
        return (grads,)
    if not isinstance(grads, tuple) or len(grads) != count:
        raise TypeError(f"{module.label()}: backward must return a tuple of {count} input gradients (None for an "
                        f"integer input), got {type(grads).__name__}"
                        + (f" of {len(grads)}" if isinstance(grads, tuple) else ""))
    return grads


def random_grad_outputs(outputs, dtype, seed: int, target: bool) -> tuple:
    """One dL/d(output) per output, standard normal; None (i.e. 1) for a loss's 0-d output."""
    rng = np.random.default_rng(seed)
    return tuple(None if target and np.ndim(out) == 0 else rng.standard_normal(np.shape(out)).astype(dtype)
                 for out in outputs)


def check_pair(torch_module, manual_module, arguments: tuple, dtype: str, *, target: bool = False,
               grad_seed: int = 1, finite: bool = True) -> list[TensorError]:
    """Forward and backward on both; one comparison per tensor, passing or not (see the module docstring).

    The modules must already hold the same state (build_pair, or compare.testing). `finite`: a NaN/Inf in a
    manual output or gradient fails even where torch has the same one."""
    tolerance, model = tolerance_for(dtype), error_model_for(dtype)
    reference = ModuleReference(torch_module) if model is not None else None  # before the forward: Dropout's mask
    inputs = arguments[:-1] if target else arguments
    torch_arguments, t_outputs = torch_forward(torch_module, arguments, target)
    m_outputs = tuple(flat_outputs(manual_module(*arguments)))
    if len(m_outputs) != len(t_outputs):  # nothing else can be compared output by output: the count itself fails
        side = "manual" if len(m_outputs) < len(t_outputs) else "torch"
        return [missing(0, f"output.{i}", side) for i in range(min(len(m_outputs), len(t_outputs)),
                                                                max(len(m_outputs), len(t_outputs)))]
    grad_outputs = random_grad_outputs(m_outputs, dtype, grad_seed, target)
    torch_backward(t_outputs, grad_outputs)
    m_grads = manual_input_grads(manual_module, manual_module.backward(*grad_outputs), len(inputs))

    output_names = ["output"] if len(m_outputs) == 1 else [f"output.{i}" for i in range(len(m_outputs))]
    pairs = list(zip(output_names, m_outputs, t_outputs, strict=True))
    names = input_names(manual_module, len(inputs))
    for name, value, m_grad, t_arg in zip(names, inputs, m_grads, torch_arguments, strict=True):
        if value.dtype.kind == "f":  # autograd leaves .grad None for an input the output does not depend on
            zeros = np.zeros_like(value)
            pairs.append((f"grad.{name}", zeros if m_grad is None else m_grad,
                          zeros if t_arg.grad is None else t_arg.grad))
    pairs += ModelTensors(torch_module, manual_module).pairs(after_step=False)
    comparisons = compare_once(pairs, tolerance, model,
                               None if reference is None else reference.values(arguments, target, grad_outputs, names))
    if finite:
        manual_values = [(name, value) for name, value, _ in pairs if name.startswith(("output", "grad."))]
        comparisons += [_not_finite(name, value) for name, value in manual_values
                        if value is not None and not np.isfinite(value).all()]
    return comparisons


def check_accumulation(torch_module, manual_module, arguments: tuple, *, target: bool = False,
                       grad_seed: int = 1) -> list[TensorError]:
    """The `.grad` protocol: two forward + backward rounds with no zero_grad between them, after which every
    parameter's `.grad` holds the sum of both rounds on both sides (torch accumulates until zero_grad). float64
    modules holding the same state (the comparison uses float64's rtol). A manual gradient that equals its
    first-round value after the second round (the same inputs and grad_outputs twice) fails as "overwrites .grad
    instead of adding to it"."""
    first: dict[str, np.ndarray | None] = {}
    for round_ in range(2):
        _, t_outputs = torch_forward(torch_module, arguments, target)
        m_outputs = tuple(flat_outputs(manual_module(*arguments)))
        if len(m_outputs) != len(t_outputs):
            return []  # check_pair fails on the count already
        grad_outputs = random_grad_outputs(m_outputs, "float64", grad_seed, target)  # the same both rounds
        torch_backward(t_outputs, grad_outputs)
        manual_module.backward(*grad_outputs)
        if round_ == 0:
            first = {f"grad.{name}": None if p.grad is None else p.grad.copy()
                     for name, p in manual_module.named_parameters()}
    pairs = [pair for pair in ModelTensors(torch_module, manual_module).pairs(False) if pair[0].startswith("grad.")]
    manual_grads = {name: m_grad for name, m_grad, _ in pairs}
    tolerance = tolerance_for("float64")
    comparisons = compare_once(pairs, tolerance, None, None)
    for i, comparison in enumerate(comparisons):
        m_grad, first_grad = manual_grads.get(comparison.name), first.get(comparison.name)
        if not comparison.passed and m_grad is not None and first_grad is not None and np.allclose(
                m_grad, first_grad, rtol=tolerance.rtol, atol=0):  # the second round replaced the first
            comparisons[i] = dataclasses.replace(comparison, name=f"{comparison.name} (overwritten by the second "
                                                 f"backward instead of added to: torch accumulates until zero_grad)")
    return comparisons


def check_module_case(case, dtype: str, seed: int = 0) -> list[TensorError]:
    """Every comparison of one catalogue case (passing ones included): `[c for c in ... if not c.passed]` fails."""
    torch_module, manual_module = build_pair(case, dtype, seed)
    return check_pair(torch_module, manual_module, make_arguments(case, dtype, seed), dtype,
                      target=case.target is not None, grad_seed=seed + 1, finite=case.finite)


def fix_dropout_masks(module, seed: int = 0) -> None:
    """Finite differences need a deterministic function: every Dropout keeps one mask for all forwards."""
    rng = np.random.default_rng(seed)
    for layer in module.modules():
        if isinstance(layer, manual.nn.Dropout):
            masks: dict[tuple[int, ...], np.ndarray] = {}
            layer.mask_provider = lambda shape, p=layer.p, masks=masks: masks.setdefault(tuple(shape),
                                                                                         rng.random(shape) >= p)


def cast_module(module, dtype: str):
    """A deep copy of a manual module, every float parameter and buffer in `dtype` (its `.to(dtype)`, as torch's),
    no gradients. Built-in layers read their dtype from their parameters; a user layer must do the same."""
    module = copy.deepcopy(module).to(dtype)
    module.zero_grad()
    return module


def _not_finite(name: str, value) -> TensorError:
    """A failing entry for a manual tensor with NaN/Inf where the case requires finite values."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(np.asarray(value)))[0])
    return TensorError(0, f"{name} (not finite)", np.inf, np.inf, np.inf, index, float(np.asarray(value)[index]),
                       np.nan)
