"""The two kinds of case: a training `Case` (a model, a loss, an optimizer and a batch stream, run step by step on
both backends) and a `ModuleCase` (one module or loss with the inputs that exercise it, checked three ways).

A spec is (class name, keyword arguments); the same name is looked up in `compare.registry` first (classes user
code registered), then in `manual.models`/`torch_ref.models`, `manual.nn`/`torch.nn` (or `torch_ref.nn` for
what torch.nn lacks) and `manual.optim`/`torch.optim`, so there is no translation table.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ModuleCase:
    """One module or loss and the inputs that exercise it. The module is called with the positional arguments
    (input, *extra_inputs, target): each made in float64 by a function of one NumPy
    generator (in that order) and, when it is a float array, cast per dtype; integer arrays (Embedding indices,
    class targets) are passed as they are. Every float argument but the target gets a gradient (see
    compare/checks/module_check.py for the backward convention of several inputs and outputs).
    Each case is checked three ways (tests/checks/test_modules.py): float64 backward vs central differences (unless
    `gradcheck=False`: an input sits on a kink or a bound on purpose), and vs torch autograd in float64 and float32.

    Step: central differences err by about ε²·|f₃|/6 (truncation; f₃ the third derivative) plus u·S/ε (rounding
    of the checked scalar L = Σ G ⊙ y, S = Σ|G ⊙ y|, u = 1.1e-16). Their sum is smallest near ε = (3u·S/|f₃|)^(1/3),
    i.e. 1e-5 for S ~ 10-100 (the textbook ε ≈ ∛u). manual.gradcheck measures both terms on the run and bounds each
    probe by them (compare/engine/tolerances.py), so ε moves the bound, not the verdict on a correct layer. Where an
    input sits exactly on a jump of f'' (ELU(α=1) at 0, Huber at |d| = δ; f' is continuous there) the truncation
    error is ε·|Δf''|/4 instead, so those cases take ε = 1e-6. Input values where f' jumps (a declared `kinks`) are
    left out of the probes.
    """

    name: str
    module: tuple
    input: Callable[[np.random.Generator], np.ndarray]
    target: Callable[[np.random.Generator], np.ndarray] | None = None  # losses only: the last argument, no gradient
    gradcheck: bool = True  # False only where central differences straddle a kink or a bound on purpose
    train: bool = True  # the mode both modules run in (BatchNorm, Dropout)
    state: Callable[[np.random.Generator], dict] | None = None  # overrides part of torch's initial state_dict
    finite: bool = True  # outputs and gradients must be finite (False: NaN is torch's answer too)
    fd_eps: float = 1e-5  # central-difference step, see "Step" above
    extra_inputs: tuple = ()  # makers of the arguments after `input` (RNN's h0, ...): float ones get gradients


DTYPES = ("float32", "float64")


class BatchStream(Protocol):
    """Where a training case's batches come from (`Batches`, `TextWindows`, `SineSequences` in
    compare/catalogue/batches.py): an endless stream of (x, y) NumPy pairs made from `seed`, floats in `dtype`."""

    def stream(self, seed: int, dtype) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


@dataclass(frozen=True)
class Case:
    """A training case: `model`, `loss`, `optimizer` (and `scheduler`, `clip`) are specs built on both backends;
    `data` makes the same batches for both; `steps` training steps are compared one by one in each of `dtypes`."""

    name: str
    model: tuple
    loss: tuple
    optimizer: tuple
    data: BatchStream | None  # None: a case only built (compare.engine.twins.build_twins), never streamed
    steps: int = 50
    dtypes: tuple = field(default=DTYPES)
    eval_steps: int = 0  # after training: this many batches in eval mode (forward, loss, backward; no step)
    scheduler: tuple | None = None  # (lr_scheduler class name, kwargs), stepped after every optimizer step
    clip: tuple | None = None  # (nn.utils function name, kwargs), applied to the gradients before the step
