"""The culprit alone, in float64, against central differences, on the input it received in the replayed step:
manual's backward through `manual.gradcheck.check_call` (each probe within the finite-difference error model of
compare/engine/tolerances.py's GRADCHECK_TOLERANCE), torch's through
`torch.autograd.gradcheck` (fast mode: random directions), parameters included on both sides. A side whose
backward disagrees with its own forward is wrong; when both agree with their forwards, the two forwards compute
different functions. Where both fail on the recorded input (it sits on a kink: ReLU's zeros into a max
pool), both are checked again on standard normals of the same shape. The batch is cut to its first two samples (the check perturbs every element), and a
module with more than MAX_ELEMENTS elements to perturb is not checked."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from compare.catalogue.case_types import ModuleCase
from compare.checks.module_check import cast_module, fix_dropout_masks
from compare.engine.tolerances import GRADCHECK_TOLERANCE
from manual.gradcheck import check_call

MAX_ELEMENTS = 20_000
SAMPLES = 2
EPS = ModuleCase.fd_eps  # the module catalogue's default step (compare/catalogue/case_types.py, "Step")


@dataclass
class FDVerdict:
    manual: str  # "passes", "FAILS (...)" or "not run (...)"
    torch: str

    @property
    def side(self) -> str:
        manual_ok, torch_ok = self.manual.startswith("passes"), self.torch.startswith("passes")
        if self.manual.startswith("FAILS") and not self.torch.startswith("FAILS"):
            return "manual's backward (it disagrees with its own forward)"
        if self.torch.startswith("FAILS") and not self.manual.startswith("FAILS"):
            return "torch's backward (it disagrees with its own forward)"
        if manual_ok and torch_ok:
            return "undecided (both backwards agree with their own forwards)"
        return "both backwards disagree with their forwards" if not (manual_ok or torch_ok) else "manual's backward?"


def _trimmed(inputs: tuple) -> tuple:
    """The first SAMPLES samples of every argument when all of them are batched alike (dim 0)."""
    arrays = [a for a in inputs if isinstance(a, np.ndarray)]
    if not arrays or len(arrays) != len(inputs) or any(a.ndim < 2 for a in arrays) \
            or len({a.shape[0] for a in arrays}) != 1:
        return inputs
    return tuple(a[:SAMPLES] for a in arrays)


def _float64(value):
    return value.astype(np.float64) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


def _manual(module, inputs: tuple, target: bool) -> str:
    module = cast_module(module, "float64")
    fix_dropout_masks(module)
    result = check_call(module, [_float64(a) for a in inputs], target=target, eps=EPS, bound=GRADCHECK_TOLERANCE)
    return "passes" if result.passed(GRADCHECK_TOLERANCE) else f"FAILS ({result.describe(GRADCHECK_TOLERANCE)})"


def _torch(module: torch.nn.Module, inputs: tuple, target: bool) -> str:
    if module.training and any(isinstance(m, torch.nn.Dropout) for m in module.modules()):
        return "not run (Dropout draws a new mask at each call)"
    module = copy.deepcopy(module).to(torch.float64)
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in module.parameters()]
    arguments = [torch.from_numpy(_float64(np.array(a))) for a in inputs]
    varied = [i for i, a in enumerate(arguments) if a.is_floating_point() and not (target and i == len(arguments) - 1)]
    for i in varied:
        arguments[i].requires_grad_(True)

    def call(*tensors):
        args = list(arguments)
        for i, tensor in zip(varied, tensors[:len(varied)], strict=True):
            args[i] = tensor
        return torch.func.functional_call(module, dict(zip(names, tensors[len(varied):], strict=True)), tuple(args))

    passed = torch.autograd.gradcheck(call, (*(arguments[i] for i in varied), *params), fast_mode=True,
                                      raise_exception=False)  # torch's own rule and step
    return "passes" if passed else "FAILS (torch.autograd.gradcheck, fast mode)"


def check_alone(manual_module, torch_module, inputs: tuple, target: bool) -> FDVerdict:
    """Both sides' float64 finite-difference checks of one module on (a cut of) its recorded input."""
    inputs = _trimmed(inputs)
    size = sum(np.size(a) for a in inputs) + sum(p.data.size for p in manual_module.parameters())
    if size > MAX_ELEMENTS:
        skipped = f"not run ({size} elements to perturb, over {MAX_ELEMENTS})"
        return FDVerdict(skipped, skipped)
    verdict = FDVerdict(_manual(manual_module, inputs, target), _torch(torch_module, inputs, target))
    if verdict.manual.startswith("FAILS") and verdict.torch.startswith("FAILS"):
        fresh = _fresh(inputs, target)  # the recorded input sits on a kink for both (ReLU's zeros into a max)
        verdict = FDVerdict(_manual(manual_module, fresh, target) + RANDOM, _torch(torch_module, fresh, target) + RANDOM)
    return verdict


RANDOM = " on a random normal input (both failed on the recorded one: a kink)"


def _fresh(inputs: tuple, target: bool) -> tuple:
    """Standard normals in place of the float inputs (not a loss's target): no ties, no exact zeros."""
    rng = np.random.default_rng(0)
    return tuple(rng.standard_normal(a.shape) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                 and not (target and i == len(inputs) - 1) else a for i, a in enumerate(inputs))

