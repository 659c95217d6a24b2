"""The float64 reference of a float32 step: torch, in float64, from torch's own float32 state and batch.

compare/engine/tolerances.py bounds manual's float32 error by torch's measured float32 error against this reference
(|t - r|). It is torch's computation in every respect but the precision: the twin is a copy of the float32
torch model in float64, its optimizer the same class with the same groups, its loss function a float64 copy,
its gradient clipping the same function, its Dropout layers replaying the mask the float32 twin drew (read out
with compare.engine.masks without touching torch's random stream). Before each step it takes over the float32 twin's
parameters, buffers, optimizer state and group hyperparameters (`sync`), so the two start every step from the
same numbers. No lr scheduler: the lr a scheduler sets is computed in double on every side, so the reference lr
is torch's own (the harness takes `state.group*.lr` from the float32 twin).

After a training step it can also say how far torch's own gradient error carries through the optimizer step
(`Reference.propagated`, the P of compare/engine/tolerances.py): the part of a float32 update's error that an
element's own sample of it can miss. An optimizer step maps each gradient element g to a new parameter and new
state elements. torch's float32 gradient is off from the exact one by its rounding error, about the same level G
over a tensor's elements (a batch sum's error grows with the magnitudes of its terms, not with the result), and
the update carries that error on, multiplied by its sensitivity to g. The sensitivity can differ by orders of
magnitude between the elements of one tensor: Adam's first step moves each element by lr·g/(|g| + eps), so an
element whose g cancels to about eps carries its gradient error multiplied by about lr/eps (10^3-10^4 in the
catalogue), while the others carry almost none. There the update's error is one element's one rounding sample,
amplified; the largest |t - r| over the tensor is then that single sample, which may be small by luck while
manual's (its own gradient's error, as large in distribution) is not.

So the reference also runs its optimizer step from the same start with every gradient element moved by
+G and by -G, G the largest |torch's float32 gradient - the float64 one| over the parameter's elements, and
`propagate` gives, per element of each parameter and state tensor after the step, the larger of the two
distances from the unmoved step's result. It is torch's numbers only (its float32 gradient, its float64 update
rule), so a bug in manual cannot widen it, and it is large only where the update is sensitive to its gradient:
elsewhere it is about lr·G (SGD: exactly), far below the floor of the error model.

The loss and the gradients have the same weakness where a tensor has one element and the run one step (a bias's
gradient, a batch mean that cancels): no other element or step to pool with, so torch's error there is one
sample, which may be small by luck. `Reference.rounding_samples` draws more: the step's forward and backward
again from where it started, on the batch with its rows re-ordered, in float32 (a copy of torch's model) and in
float64 (the reference), each re-ordering another summation order over the rows and so another sample of
torch's rounding error at the same magnitudes. torch's numbers only, again.
"""
from __future__ import annotations

import copy
import math
import types
from dataclasses import dataclass

import numpy as np
import torch

from compare.engine.masks import MaskRelay, draws_mask
from compare.engine.twins import Twin, optimizer_state, torch_step


def _largest_finite(tensor: torch.Tensor) -> float:
    """max |x| over the finite elements of `tensor` (0 when it has none)."""
    finite = tensor[torch.isfinite(tensor)]
    return float(finite.abs().max()) if finite.numel() else 0.0


def gradient_spread(float32_grad: torch.Tensor | None, float64_grad: torch.Tensor | None) -> float:
    """G: the largest |float32 - float64| over the finite elements of a parameter's gradient (0 without one)."""
    if float32_grad is None or float64_grad is None or not float32_grad.numel():
        return 0.0
    return _largest_finite(float32_grad.to(float64_grad) - float64_grad)


def _clone(value):
    return value.clone() if isinstance(value, torch.Tensor) else value


@dataclass
class StepStart:
    """Where an optimizer step started: its parameters' values and gradients and its state (copies), and torch's
    float32 gradients of the same parameters (whose distance from `grads` is each gradient's error)."""
    params: list
    values: list
    grads: list
    state: dict
    float32_grads: list

    @classmethod
    def take(cls, optimizer, params: list, float32_grads: list) -> StepStart:
        state = {param: {key: _clone(value) for key, value in optimizer.state[param].items()}
                 for param in params if optimizer.state.get(param)}
        return cls(params, [param.detach().clone() for param in params], [param.grad for param in params], state,
                   float32_grads)

    def named(self, optimizer, names: list[str]) -> dict[str, torch.Tensor]:
        """The copies by the harness's names (`_named`)."""
        return _named(names, self.values, optimizer, self.state)

    def restore(self, optimizer, grad_moves: list[float] | None = None) -> None:
        """Parameters, gradients and optimizer state as at the start; with `grad_moves`, each gradient moved by
        its amount."""
        with torch.no_grad():
            for param, value in zip(self.params, self.values, strict=True):
                param.copy_(value)
        for param, grad, move in zip(self.params, self.grads, grad_moves or [0.0] * len(self.params), strict=True):
            param.grad = grad + move if grad is not None and move else grad
            optimizer.state.pop(param, None)
            if param in self.state:
                optimizer.state[param] = {key: _clone(value) for key, value in self.state[param].items()}


def _named(names: list[str], values: list, optimizer, state: dict | None = None) -> dict[str, torch.Tensor]:
    """Parameter values and optimizer-state tensors by the harness's names (param.<name>, state.<name>.<key>): the
    state `optimizer` holds, or `state`, a copy of it keyed alike, named as the step's is (compare/engine/twins.py's
    optimizer_state)."""
    tensors = {f"param.{name}": value for name, value in zip(names, values, strict=True)}
    tensors.update((name, value) for name, value in optimizer_state(optimizer, names, state).items()
                   if isinstance(value, torch.Tensor))
    return tensors


def _updated_values(params: list, optimizer, names: list[str]) -> dict[str, torch.Tensor]:
    """Copies of every parameter and optimizer-state tensor as the step left them, by the harness's names."""
    return {name: value.detach().clone() for name, value in _named(names, params, optimizer).items()}


def propagate(start: StepStart, optimizer, names: list[str]) -> dict[str, np.ndarray]:
    """Per element of each parameter and state tensor (by the harness's names), the larger distance of the step
    from `start` with every gradient moved by +G and by -G from the step `optimizer` has just taken from it.
    Leaves the parameters, gradients and state as at `start` (NaN/Inf distances: 0)."""
    after = _updated_values(start.params, optimizer, names)
    spreads = [gradient_spread(theirs, mine) for theirs, mine in zip(start.float32_grads, start.grads, strict=True)]
    runs = []
    for sign in (1.0, -1.0):
        start.restore(optimizer, [sign * spread for spread in spreads])
        optimizer.step()
        runs.append(_updated_values(start.params, optimizer, names))
    start.restore(optimizer)
    distances = {}
    for name, value in after.items():
        moved = [run[name] for run in runs if name in run and run[name].shape == value.shape]
        if not moved or not value.is_floating_point():
            continue
        distance = torch.stack([(m.to(value) - value).abs() for m in moved]).amax(dim=0)
        distances[name] = torch.nan_to_num(distance, nan=0.0, posinf=0.0).to(torch.float64).cpu().numpy()
    return distances


class ReplayedDropout(torch.nn.Module):
    """Dropout that applies the mask its float32 twin drew (from `relay`), scaled by 1/(1-p) as torch does."""

    def __init__(self, p: float, relay: MaskRelay, holder):
        super().__init__()
        self.p, self.relay, self.holder = p, relay, holder

    def forward(self, input):
        if not draws_mask(self):
            return input
        mask = torch.from_numpy(self.holder.mask_provider(tuple(input.shape))).to(input.device)
        return input * mask * (1.0 / (1.0 - self.p))


def _hookless_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of `module` without its forward hooks (the harness's Dropout mask relays)."""
    copied = copy.deepcopy(module)
    for part in copied.modules():
        part._forward_hooks.clear()
        part._forward_pre_hooks.clear()
    return copied


def float64_model(model: torch.nn.Module) -> tuple[torch.nn.Module, list[MaskRelay]]:
    """A float64 copy of `model` without its hooks; each Dropout replays the mask `model`'s Dropout draws."""
    reference = _hookless_copy(model)
    relays = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout):
            holder = types.SimpleNamespace()
            relay = MaskRelay(module, holder, name)
            replayed = ReplayedDropout(module.p, relay, holder)
            replayed.train(module.training)
            if not name:  # the model is a Dropout itself
                reference = replayed
            else:
                parent_name, _, child = name.rpartition(".")
                setattr(reference.get_submodule(parent_name) if parent_name else reference, child, replayed)
            relays.append(relay)
    return reference.to(torch.float64), relays


@dataclass
class _PropagatingTwin(Twin):
    """The reference's twin. Its optimizer step, after the clipping, keeps where it started (`start`), so that
    `Reference.propagated` can run it again with each gradient moved by torch's own float32 gradient error (the
    module docstring). `source`: the float32 twin, whose gradients (clipped, from its own step) set each
    gradient's error."""
    source: Twin | None = None
    start: StepStart | None = None

    def optimizer_step(self, loss) -> None:
        assert self.source is not None and self.scheduler is None, "the reference takes its lr from the source"
        if self.clip is not None:
            self.clip(self.model.parameters())
        self.start = StepStart.take(self.optimizer, list(self.model.parameters()),
                                    [param.grad for param in self.source.model.parameters()])
        self.optimizer.step()


def reorderings(rows: int, count: int) -> list[np.ndarray]:
    """Up to `count` distinct orders of `rows` rows, none the given one: the same on every run (fixed seed)."""
    rng = np.random.default_rng(rows)
    seen, orders = {tuple(range(rows))}, list[np.ndarray]()
    for _ in range(8 * count):  # a few rows have fewer orders than `count`: give up after 8 draws per order wanted
        if len(orders) == count:
            break
        order = rng.permutation(rows)
        if tuple(order) not in seen:
            seen.add(tuple(order))
            orders.append(order)
    return orders


def _loss_and_grads(model: torch.nn.Module, loss_fn, x: np.ndarray, y: np.ndarray, device: str, clip) -> dict:
    """{"loss": ..., "grad.<name>": ...} of one forward and backward from no gradients, clipped by `clip`."""
    for param in model.parameters():
        param.grad = None
    loss = loss_fn(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
    loss.backward()
    if clip is not None:
        clip(model.parameters())
    return {"loss": loss.detach(), **{f"grad.{name}": param.grad for name, param in model.named_parameters()}}


class Reference:
    """torch in float64, following a float32 torch twin step by step (see the module docstring)."""

    def __init__(self, torch_twin: Twin):
        self.source = torch_twin
        model, self.relays = float64_model(torch_twin.model)
        self.params = list(model.parameters())
        self.param_names = [name for name, _ in model.named_parameters()]
        self.source_params = list(torch_twin.model.parameters())
        index = {id(p): i for i, p in enumerate(self.source_params)}
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": [self.params[index[id(p)]] for p in group["params"]]}
                  for group in torch_twin.optimizer.param_groups]
        optimizer = type(torch_twin.optimizer)(groups)
        loss_fn = copy.deepcopy(torch_twin.loss_fn).to(torch.float64)
        self.twin = _PropagatingTwin(model, loss_fn, optimizer, clip=torch_twin.clip, source=torch_twin)
        self.buffers, self.source_buffers = list(model.buffers()), list(torch_twin.model.buffers())
        # per parameter with optimizer state: (its id, [(state key, id of the value)]); None before the first sync
        self.signature: list[tuple[int, list[tuple[str, int]]]] | None = None
        self.state: dict[torch.nn.Parameter, dict] = {}  # the float64 optimizer state, by the float64 parameter
        self.sources: list[torch.Tensor] = []  # the float32 twin's tensors, copied into `targets` at each sync
        self.targets: list[torch.Tensor] = []
        self.start_buffers: list[torch.Tensor] = []  # the buffers as synced (a step's forward moves BatchNorm's)
        self.shadow: tuple[torch.nn.Module, torch.nn.Module] | None = None  # float32 model and loss, when needed

    def sync(self) -> None:
        """Take over the float32 twin's parameters, buffers, optimizer state and hyperparameters (upcast), and
        forget masks queued for a step the reference did not run. One `_foreach_copy_` for all tensors; the
        float64 state tensors are made anew only when the float32 twin's state tensors change (its first steps)."""
        source, twin = self.source, self.twin
        signature = [(id(theirs), [(k, id(v)) for k, v in source.optimizer.state[theirs].items()])
                     for theirs in self.source_params if source.optimizer.state.get(theirs)]
        if signature != self.signature:
            self.signature, self.state = signature, {}
            for mine, theirs in zip(self.params, self.source_params, strict=True):
                state = source.optimizer.state.get(theirs)
                if state:
                    self.state[mine] = {k: (v.clone() if k == "step" else v.to(torch.float64))
                                        if isinstance(v, torch.Tensor) else v for k, v in state.items()}
            self.sources = self.source_params + self.source_buffers + [
                v for theirs in self.source_params for v in source.optimizer.state.get(theirs, {}).values()
                if isinstance(v, torch.Tensor)]
            self.targets = self.params + self.buffers + [
                v for mine in self.params for v in self.state.get(mine, {}).values() if isinstance(v, torch.Tensor)]
        with torch.no_grad():
            torch._foreach_copy_(self.targets, self.sources)
        self.start_buffers = [buffer.clone() for buffer in self.buffers]
        self.twin.start = None
        for mine, theirs in zip(twin.optimizer.param_groups, source.optimizer.param_groups, strict=True):
            mine.update({k: v for k, v in theirs.items() if k != "params"})
        twin.optimizer.state.clear()
        twin.optimizer.state.update((mine, dict(state)) for mine, state in self.state.items())
        for relay in self.relays:
            relay.queue.clear()

    def train(self, mode: bool) -> None:
        self.twin.model.train(mode)

    def step(self, x: np.ndarray, y: np.ndarray, device: str):
        """One training step from the synced state: (output, loss, dL/dx), as `torch_step`."""
        return torch_step(self.twin, upcast(x), upcast(y), device, input_grad=True)

    def evaluate(self, x: np.ndarray, y: np.ndarray, device: str):
        """Forward, loss and backward without an optimizer step: (output, loss, dL/dx)."""
        x_t = torch.from_numpy(upcast(x)).to(device)
        x_t.requires_grad_(x_t.is_floating_point())
        self.twin.model.zero_grad()
        output = self.twin.model(x_t)
        loss = self.twin.loss_fn(output, torch.from_numpy(upcast(y)).to(device))
        loss.backward()
        return output, loss, x_t.grad


    def values(self, outputs: tuple, wanted: list[str], param_names: list[str], torch_twin: Twin,
               after_step: bool) -> list:
        """The reference's value of each tensor named in `wanted`, named as compare/engine/step_tensors.py names
        them (None where it has none): its (output, loss, dL/dx) from `step` or `evaluate`, its parameters, grads,
        buffers and, after a step, its optimizer state; each group's lr is torch's own, computed in double."""
        values = dict(zip(("output", "loss", "grad.input"), outputs, strict=True))
        for name, param in self.twin.model.named_parameters():
            values[f"grad.{name}"] = param.grad
            values[f"param.{name}"] = param
        values.update((f"buffer.{name}", buffer) for name, buffer in self.twin.model.named_buffers())
        if after_step:
            values.update(optimizer_state(self.twin.optimizer, param_names))
            values.update((k, v) for k, v in optimizer_state(torch_twin.optimizer, param_names).items() if ".group" in k)
        return [values.get(name) for name in wanted]

    def start_magnitudes(self, wanted: list[str]) -> list:
        """For each tensor named in `wanted`: the largest |value| a parameter or state tensor held when the last
        optimizer step started (the float32 twin's, as synced; over its finite elements), or None (no step since
        `sync`, or another tensor)."""
        start = self.twin.start
        if start is None:
            return [None] * len(wanted)
        tensors = start.named(self.twin.optimizer, self.param_names)
        names = [name for name in wanted if name in tensors and tensors[name].is_floating_point()
                 and tensors[name].numel()]
        largest = torch._foreach_norm([tensors[name] for name in names], float("inf")) if names else []  # one call
        magnitudes = {name: float(norm) for name, norm in zip(names, largest, strict=True)}
        for name in [name for name, magnitude in magnitudes.items() if not math.isfinite(magnitude)]:
            magnitudes[name] = _largest_finite(tensors[name])  # NaN/Inf in the tensor: its finite elements
        return [magnitudes.get(name) for name in wanted]

    def propagated(self, wanted: list[str]) -> list:
        """For each tensor named in `wanted`: per element, how far torch's own gradient error moves it through
        the last optimizer step (`propagate`, the module docstring), or None (no step since `sync`, or not a
        parameter or state tensor). It runs that step again, so read the step's `values` first: it leaves the
        reference's parameters and state where the step started."""
        twin = self.twin
        if twin.start is None:
            return [None] * len(wanted)
        distances = propagate(twin.start, twin.optimizer, self.param_names)
        return [distances.get(name) for name in wanted]

    def rounding_samples(self, x: np.ndarray, y: np.ndarray, device: str, wanted: list[str], count: int,
                         clipped: bool = True) -> list:
        """For each tensor named in `wanted`: torch's largest float32 error (|float32 - float64|, over the finite
        elements) when the last training step's forward and backward run again from where it started, on the
        batch with its rows re-ordered (`count` orders), each side clipped as the step clips (unless not
        `clipped`: the gradients as the backward left them, as explain's module records hold them); or None (not
        the loss or a parameter's gradient, no training step since `sync`, inputs and targets that do not share
        their first dimension, a model that draws Dropout masks, which belong to the rows).
        A row is one sample in the catalogue's batches, so the exact values are the step's (a mean or sum over
        the batch does not depend on its order) and each order is another summation order at the same
        magnitudes: another sample of torch's own rounding error. (A user's model that reads its first dimension
        as another axis gets torch's error on another input of the same sizes.) torch's numbers only, as the
        spread itself. Leaves the reference's parameters, gradients and state where the step started, and
        torch's random stream as it was."""
        start, rows = self.twin.start, x.shape[0] if x.ndim else 0
        masks = any(isinstance(m, torch.nn.Dropout) and draws_mask(m) for m in self.source.model.modules())
        if start is None or masks or rows < 2 or np.ndim(y) == 0 or y.shape[0] != rows:
            return [None] * len(wanted)
        if self.shadow is None:
            self.shadow = (_hookless_copy(self.source.model), _hookless_copy(self.source.loss_fn))
        shadow, shadow_loss = self.shadow
        shadow.train(self.twin.model.training)
        samples: dict[str, float] = {}
        clip = self.twin.clip if clipped else None
        with torch.random.fork_rng(devices=[] if device == "cpu" else None):
            for order in reorderings(rows, count):
                start.restore(self.twin.optimizer)  # a forward may move parameters (Embedding's max_norm)
                with torch.no_grad():  # float64 copies of float32 values: exact
                    for mine, start_value in zip([*shadow.parameters(), *shadow.buffers()],
                                                 [*self.params, *self.start_buffers], strict=True):
                        mine.copy_(start_value)
                single = _loss_and_grads(shadow, shadow_loss, x[order], y[order], device, clip)
                double = _loss_and_grads(self.twin.model, self.twin.loss_fn, upcast(x[order]), upcast(y[order]),
                                         device, clip)
                for name, value in double.items():
                    if value is not None and single.get(name) is not None:
                        sample = _largest_finite(single[name].to(value) - value)
                        samples[name] = max(samples.get(name, 0.0), sample)
        start.restore(self.twin.optimizer)
        return [samples.get(name) for name in wanted]


def upcast(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64) if array.dtype.kind == "f" else array
