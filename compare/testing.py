"""Check a hand-written layer or model against its torch twin from any project: no registration, no name lookup.

    from compare.testing import assert_module_matches
    assert_module_matches(Swish(8), TorchSwish(8), lambda rng: rng.standard_normal((4, 8)))

`assert_module_matches` runs the module catalogue's check (compare/checks/module_check.py) on the two instances:
forward output(s), dL/d(each float input), every parameter's grad and every buffer, in each dtype, against
torch autograd, with the tolerances of compare/engine/tolerances.py; then manual's backward against central
differences in float64 (manual.gradcheck). `assert_model_trains_like` runs the training harness
(compare/engine/step_loop.py: forward, loss, backward, optimizer step, every tensor compared at every step) on a model
pair the caller built, with optimizers on either side. Both raise AssertionError naming the first and the worst mismatch: step, tensor,
index, manual's value and torch's.

Weights: torch's state is copied into the manual side (as the catalogue does: torch initialises), so the two
instances need the same state_dict keys and shapes but not the same values. The instances passed in are not
changed by `assert_module_matches` (it works on a cast copy of each per dtype); `assert_model_trains_like`
trains the instances themselves (their optimizers hold their parameters).
"""
from __future__ import annotations

import copy
import itertools
import math
import numbers
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
import torch

from compare.checks.module_check import cast_float, cast_module, check_accumulation, check_pair, fix_dropout_masks
from compare.engine.error_table import TensorError
from compare.engine.masks import share_dropout_masks
from compare.engine.step_loop import CaseResult, run_twins
from compare.engine.tolerances import GRADCHECK_TOLERANCE, error_model_for, tolerance_for
from compare.engine.twins import TORCH_DTYPES, Twin, to_numpy
from compare.explain.verdict import explain_twins
from manual.gradcheck import check_call
from manual.optim.optimizer import IMPLEMENTATION_FLAGS

DTYPES = ("float32", "float64")
MAX_SEED = 2 ** 64 - 1  # torch.manual_seed's limit; NumPy's generators take any non-negative integer


# -- the arguments, checked before anything is drawn, copied or cast: a refused call changes nothing --------------
def _seed(function: str, seed) -> int:
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(f"{function}: seed must be an integer, got {seed!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{function}: seed must be in [0, 2**64 - 1] (torch.manual_seed's range), got {seed!r}")
    return value


def _dtypes(dtypes) -> tuple[str, ...]:
    if isinstance(dtypes, str):
        raise TypeError(f"assert_module_matches: dtypes must be a collection of dtype names, got the string "
                        f"{dtypes!r} (one dtype: ({dtypes!r},))")
    chosen = tuple(dtypes)
    if not chosen or any(dtype not in DTYPES for dtype in chosen):
        raise ValueError(f"assert_module_matches: dtypes must name one or more of {DTYPES}, got {chosen!r}")
    return chosen


def _fd_eps(fd_eps) -> float:
    value = float(fd_eps) if isinstance(fd_eps, numbers.Real) and not isinstance(fd_eps, bool) else math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"assert_module_matches: fd_eps (the finite-difference step) must be a finite number "
                         f"above 0, got {fd_eps!r}")
    return value


def _steps(steps) -> int:
    try:
        value = operator.index(steps)
    except TypeError:
        raise TypeError(f"assert_model_trains_like: steps must be an integer, got {steps!r}") from None
    if value < 1:
        raise ValueError(f"assert_model_trains_like: steps must be at least 1, got {steps!r}")
    return value


def _device(device) -> str:
    """'cpu', or a CUDA device torch sees ('cuda', 'cuda:N'), as a string."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is not None and parsed.type == "cpu":
        return "cpu"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if parsed is not None and parsed.type == "cuda" and (parsed.index or 0) < count:
        return str(parsed)
    seen = f"torch sees {count} CUDA device(s)" if count else "torch sees no CUDA device"
    raise ValueError(f"assert_model_trains_like: device must be 'cpu' or a CUDA device torch sees ('cuda', "
                     f"'cuda:N'); got {device!r} ({seen})")


def _module_pair(manual_module, torch_module) -> None:
    """A manual module first, a torch.nn.Module second."""
    if isinstance(manual_module, torch.nn.Module) or not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"assert_module_matches: expected a manual module, then a torch.nn.Module; got "
                        f"{_side(manual_module)} {type(manual_module).__name__}, then {_side(torch_module)} "
                        f"{type(torch_module).__name__}")


def _side(module) -> str:
    return "torch's" if isinstance(module, torch.nn.Module) else "a non-torch"


def _twin_pairs(loss, optimizer) -> None:
    """`loss` and `optimizer` are (manual, torch) pairs, in that order."""
    for what, pair in (("loss", loss), ("optimizer", optimizer)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"assert_model_trains_like: {what} must be a (manual, torch) pair, got {pair!r}")
    swapped = [f"{what}[0] is torch's {type(pair[0]).__name__}" for what, pair, torch_type in
               (("loss", loss, torch.nn.Module), ("optimizer", optimizer, torch.optim.Optimizer))
               if isinstance(pair[0], torch_type)]
    if swapped:
        raise TypeError("assert_model_trains_like: loss and optimizer are (manual, torch) pairs, manual's first; "
                        + ", ".join(swapped))
    if not isinstance(optimizer[1], torch.optim.Optimizer):
        raise TypeError(f"assert_model_trains_like: the optimizer pair's second must be a torch.optim.Optimizer, got "
                        f"{type(optimizer[1]).__name__}")


def _optimizes(side: str, optimizer, model) -> None:
    """The optimizer holds parameters of the model it is paired with: one built on another model (or on a copy)
    would step parameters the run never reads, and the report would blame the backends."""
    held = [param for group in optimizer.param_groups for param in group["params"]]
    own = {id(param) for param in model.parameters()}
    foreign = sum(id(param) not in own for param in held)
    if foreign or not held:
        raise ValueError(f"assert_model_trains_like: the {side} optimizer holds {foreign} of its {len(held)} "
                         f"parameters outside the {side} model; build it on that model's parameters")


def bound_text(dtype: str) -> str:
    """The bound an element of `dtype` must meet, as compare/engine/tolerances.py sets it, with its constants."""
    model = error_model_for(dtype)
    if model is None:
        tolerance = tolerance_for(dtype)
        return f"|manual - torch| <= {tolerance.rtol:g}·|torch| + {tolerance.atol:g}"
    return (f"|manual - torch| <= {model.spread_factor:g}·S + {model.ulps:g}·u·M, the {dtype} error model (S: torch's "
            f"own rounding error, |torch - float64 reference from the same state|; M: max |torch|; both over the "
            f"tensor and the steps within ±{model.window}; u = 2^{math.log2(model.unit_roundoff):g})")


def mismatch_report(title: str, comparisons: list[TensorError], dtype: str) -> str | None:
    """None when every comparison passes; otherwise how many failed, the bound, the first and the worst of them
    (one line when they are the same element)."""
    failing = [c for c in comparisons if not c.passed]
    if not failing:
        return None
    first, worst = failing[0], max(failing, key=lambda c: c.ratio)
    lines = [f"{title} [{dtype}]: {len(failing)} of {len(comparisons)} compared tensors differ from torch beyond "
             f"{bound_text(dtype)}"]
    if first.same_element(worst):
        lines.append(f"  first and worst: {first.describe()}, {worst.ratio:.3g}x allowed")
    else:
        lines += [f"  first: {first.describe()}", f"  worst: {worst.describe()}, {worst.ratio:.3g}x allowed"]
    return "\n".join(lines)


def _label(module) -> str:
    return module.label() if hasattr(module, "label") else type(module).__name__


def _draw(inputs, target, seed: int) -> tuple:
    """The positional arguments in float64: inputs (an array, a tuple of arrays, or a function of a NumPy
    generator returning either), then the target (likewise), drawn in that order from one generator."""
    rng = np.random.default_rng(seed)
    drawn = inputs(rng) if callable(inputs) else inputs
    arguments = tuple(drawn) if isinstance(drawn, (tuple, list)) else (drawn,)
    if target is not None:
        arguments += (target(rng) if callable(target) else target,)
    return tuple(np.asarray(a) for a in arguments)


def _pair_in(manual_module, torch_module, dtype: str, train: bool):
    """Cast copies of both, in `train` mode, the manual copy holding torch's state."""
    torch_copy = copy.deepcopy(torch_module).to(TORCH_DTYPES[dtype]).train(train)
    manual_copy = cast_module(manual_module, dtype).train(train)
    manual_copy.load_state_dict(to_numpy(torch_copy.state_dict()))
    return torch_copy, manual_copy


def assert_module_matches(manual_module, torch_module, inputs, *, dtypes: Iterable[str] = DTYPES, train: bool = True,
                          target=None, gradcheck: bool = True, fd_eps: float = 1e-5, finite: bool = True,
                          seed: int = 0) -> dict[str, list[TensorError]]:
    """Assert that a manual module computes what its torch twin computes, forward and backward.

    inputs: an array, a tuple of arrays (the positional arguments), or a function of a NumPy generator
        returning either; made in float64 and cast per dtype (integer arrays are passed as they are).
    target: for a loss, its target (array or function of the generator, drawn after the inputs): passed last,
        never differentiated. A 0-d output then gets the gradient 1, as `loss.backward()`.
    dtypes: each runs on copies of both modules cast to it (torch's `.to(dtype)`, manual's float parameters and
        buffers cast alike), the manual copy loaded with the torch copy's state.
    train: the mode of both copies (Dropout masks are shared, as in the catalogue).
    gradcheck: also compare manual's backward with central differences of step `fd_eps` in float64 (input(s) and
        parameters; manual.gradcheck.check_call: element by element up to 64 elements, larger tensors along random
        directions plus sampled elements), each probe within the error model of
        compare.engine.tolerances.GRADCHECK_TOLERANCE. Input values at a kink the module declares (its `kinks`,
        e.g. (0.0,) for a PReLU) are left out; turn it off where an undeclared kink is hit.
    finite: a NaN/Inf in a manual output or gradient fails, even where torch has the same one.
    Returns every comparison per dtype (passing ones included); raises AssertionError listing, per failing
    dtype, the first and the worst mismatch, and the worst finite-difference error.
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message, not this function's source
    seed, dtypes, fd_eps = _seed("assert_module_matches", seed), _dtypes(dtypes), _fd_eps(fd_eps)
    _module_pair(manual_module, torch_module)
    arguments64 = _draw(inputs, target, seed)
    title = f"{_label(manual_module)} vs torch {type(torch_module).__name__}"
    reports: list[str | None] = []  # per dtype: its mismatch report (None: it passed)
    results = {}
    for dtype in dtypes:
        torch_copy, manual_copy = _pair_in(manual_module, torch_module, dtype, train)
        share_dropout_masks(torch_copy, manual_copy)
        torch.manual_seed(seed)
        results[dtype] = check_pair(torch_copy, manual_copy, tuple(cast_float(a, dtype) for a in arguments64), dtype,
                                    target=target is not None, grad_seed=seed + 1, finite=finite)
        reports.append(mismatch_report(title, results[dtype], dtype))
    torch64, manual64 = _pair_in(manual_module, torch_module, "float64", train)  # the .grad protocol, in float64
    share_dropout_masks(torch64, manual64)
    torch.manual_seed(seed)
    protocol = check_accumulation(torch64, manual64, arguments64, target=target is not None, grad_seed=seed + 1)
    reports.append(mismatch_report(f"{title}, 2 forward and backward calls without zero_grad", protocol, "float64"))
    failures = [report for report in reports if report]
    if gradcheck:
        _, manual64 = _pair_in(manual_module, torch_module, "float64", train)
        fix_dropout_masks(manual64, seed)
        result = check_call(manual64, arguments64, target=target is not None, eps=fd_eps, seed=seed + 1,
                            bound=GRADCHECK_TOLERANCE)
        if not result.passed(GRADCHECK_TOLERANCE):
            failures.append(f"{title} [float64 finite differences]: {result.describe(GRADCHECK_TOLERANCE)}")
    if failures:
        raise AssertionError("\n".join(failures))
    return results



def _batch_stream(batches, steps: int, dtype: str, seed: int):
    """`steps` (x, y) pairs with float arrays in `dtype`, from an iterable of pairs or a function of a generator."""
    rng = np.random.default_rng(seed)
    source = iter(lambda: batches(rng), None) if callable(batches) else iter(batches)
    for step in range(steps):
        pair = next(source, None)
        if pair is None:
            raise ValueError(f"assert_model_trains_like: batches ran out after {step} of {steps} steps")
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            shape = f" of shape {np.shape(pair)}" if isinstance(pair, np.ndarray) else ""
            raise TypeError(f"assert_model_trains_like: batches must give (x, y) pairs; batch {step} is a "
                            f"{type(pair).__name__}{shape}")
        x, y = pair
        yield cast_float(np.asarray(x), dtype), cast_float(np.asarray(y), dtype)


def hyperparameter_differences(manual_optimizer, torch_optimizer) -> list[str]:
    """Every param_group setting both optimizers have that differs, and a different number of groups or of
    parameters per group. The implementation flags (foreach, fused, ...: manual.optim.optimizer's
    IMPLEMENTATION_FLAGS) choose a code path, not a number, so they are not compared."""
    manual_groups = manual_optimizer.state_dict()["param_groups"]
    torch_groups = torch_optimizer.state_dict()["param_groups"]
    if len(manual_groups) != len(torch_groups):
        return [f"{len(manual_groups)} param groups vs {len(torch_groups)}"]
    return [f"group {i} {key}: manual {m_group[key]!r} vs torch {t_group[key]!r}"
            for i, (m_group, t_group) in enumerate(zip(manual_groups, torch_groups, strict=True))
            for key in m_group.keys() & t_group.keys() - IMPLEMENTATION_FLAGS.keys()
            if (len(m_group[key]) != len(t_group[key]) if key == "params" else m_group[key] != t_group[key])]


def _dtype_of(torch_model) -> str:
    """The torch model's dtype (its first parameter's): float32 or float64, or refused naming the one it has."""
    first = next(torch_model.parameters(), None)
    if first is None:
        raise ValueError("assert_model_trains_like: the torch model has no parameters: there is nothing to train")
    dtype = first.dtype
    name = next((name for name, torch_dtype in TORCH_DTYPES.items() if torch_dtype == dtype), None)
    if name is None:
        raise ValueError(f"assert_model_trains_like: the torch model is in {dtype}; the harness compares in "
                         f"{' or '.join(TORCH_DTYPES)}: pass dtype= or cast it (torch_model.to(torch.float64))")
    return name


def _in_dtype(manual_model, manual_loss, manual_opt, dtype: str) -> None:
    """Cast the manual model (and loss) to `dtype` with its `.to`, or refuse in one line that says how."""
    held = {p.dtype.name for p in manual_model.parameters()}
    if held <= {dtype}:
        return
    name = f"{_label(manual_model)} ({'/'.join(sorted(held))})"
    if not hasattr(manual_model, "to"):
        raise TypeError(f"{name} vs a {dtype} torch model: build the manual model in {dtype} (dtype={dtype!r}), "
                        f"or cast the torch model to its dtype (torch_model.to(torch.{held.pop()}))")
    if manual_opt.state:
        raise TypeError(f"{name} vs a {dtype} torch model: its optimizer already holds state in the old dtype; "
                        f"call manual_model.to({dtype!r}) before building the optimizer")
    manual_model.to(dtype)
    if hasattr(manual_loss, "to"):
        manual_loss.to(dtype)


def torch_state_dict(manual_module) -> OrderedDict:
    """The manual module's state_dict as torch tensors (copies), for `torch_model.load_state_dict(...)`: the way
    back of `manual_model.load_state_dict(torch_model.state_dict())` (torch's load_state_dict refuses NumPy
    arrays; it casts tensors to each parameter's dtype and device itself)."""
    return OrderedDict((key, torch.from_numpy(np.ascontiguousarray(value)))
                       for key, value in manual_module.state_dict().items())


def assert_model_trains_like(manual_model, torch_model, loss: tuple, optimizer: tuple,
                             batches: Iterable | Callable, steps: int, *, scheduler: tuple | None = None,
                             device: str = "cpu", seed: int = 0, dtype: str | None = None) -> CaseResult:
    """Assert that `steps` training steps of the manual model follow the torch model's, tensor by tensor.

    loss, optimizer, scheduler: (manual instance, torch instance) pairs, the optimizers built on the two
        models' parameters (e.g. `(manual.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(t.parameters(),
        lr=0.1))`).
    batches: an iterable of (x, y) NumPy pairs, or a function of a NumPy generator returning one pair.
    dtype: "float32" or "float64", both models cast to it in place (torch's `.to`, manual's `.to`); None: the
        torch model's dtype, the manual model (and loss) cast to it with its `.to` where it differs (refused, with
        how to fix it, when the manual model has no `.to` or its optimizer already holds state).
    Before the first step torch's parameters and buffers are loaded into the manual model; the optimizers (and
    schedulers) are taken as given, so give fresh ones, built with the same arguments (a hyperparameter that
    differs between their param_groups fails before the first step). float32 runs start every step from torch's
    state (the harness's resync, compare/engine/tolerances.py), float64 runs are free-running. Each step compares
    output, loss, dL/d(input), every grad, parameter, buffer and optimizer-state tensor. Returns the harness's
    CaseResult.
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the message, not this function's source
    steps, seed, device = _steps(steps), _seed("assert_model_trains_like", seed), _device(device)
    if dtype is not None and dtype not in TORCH_DTYPES:
        raise ValueError(f"assert_model_trains_like: dtype must be one of {sorted(TORCH_DTYPES)}, got {dtype!r}")
    dtype = dtype or _dtype_of(torch_model)
    _twin_pairs(loss, optimizer)
    (manual_loss, torch_loss), (manual_opt, torch_opt) = loss, optimizer
    _optimizes("manual", manual_opt, manual_model)
    _optimizes("torch", torch_opt, torch_model)
    differences = hyperparameter_differences(manual_opt, torch_opt)
    if differences:  # checked first: the float32 resync copies torch's groups into manual at every step
        raise AssertionError(f"{type(manual_opt).__name__} vs torch {type(torch_opt).__name__}: the optimizers' "
                             f"hyperparameters differ: " + "; ".join(differences))
    torch.manual_seed(seed)  # before the first batch, as torch's random state has always been: for batches that
    # draw from it, and for the Dropout masks after them (nothing below until the first step draws from it)
    seen: list = []  # the batches, kept for explain's replay
    stream = _kept(_batch_stream(batches, steps, dtype, seed), seen)
    stream = itertools.chain([next(stream)], stream)  # the first batch drawn now: one that is no pair is refused here
    _in_dtype(manual_model, manual_loss, manual_opt, dtype)  # refuses before it casts
    torch_model.to(TORCH_DTYPES[dtype])  # the last of the refusals is behind: the casts
    manual_scheduler, torch_scheduler = scheduler or (None, None)
    torch_twin = Twin(torch_model, torch_loss, torch_opt, torch_scheduler)
    manual_twin = Twin(manual_model, manual_loss, manual_opt, manual_scheduler)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))  # not the optimizers': that would copy the
    # hyperparameters too (load_state_dict replaces param_groups), and a wrong one would go unseen
    try:  # explain replays the first failing step from these copies
        initial = copy.deepcopy((torch_twin, manual_twin))
    except Exception:  # a model that cannot be copied is still checked, without explain's line
        initial = None
    share_dropout_masks(torch_model, manual_model)
    name = f"{_label(manual_model)} vs torch {type(torch_model).__name__}"
    result = run_twins(torch_twin, manual_twin, stream, steps, dtype, device, name)
    report = mismatch_report(f"{name}, {steps} steps", result.errors, dtype)
    if report:
        raise AssertionError(f"{report}\n{_explained(initial, seen, result, dtype, device, seed)}")
    return result


def _kept(stream, kept: list):
    for batch in stream:
        kept.append(batch)
        yield batch


def _explained(initial: tuple | None, batches: list, result: CaseResult, dtype: str, device: str, seed: int) -> str:
    """explain's one line (compare/explain/): the first module that goes wrong at the first failing step, and
    the side, replayed from copies of the initial twins on the same batches."""
    if initial is None:
        return "explain: not run (the models could not be copied before the first step)"
    step = result.first_mismatch.step if result.first_mismatch is not None else 0
    torch_twin, manual_twin = initial
    try:
        return explain_twins(torch_twin, manual_twin, batches, step, dtype, result.case, device, seed).summary()
    except Exception as error:  # the assertion above stands without it
        return f"explain: the step could not be replayed ({type(error).__name__}: {error})"
