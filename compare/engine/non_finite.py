"""NaN/Inf bookkeeping of a run: where a non-finite value first appeared on each side, and whether the sides agree.

Agreement: in every compared tensor at every step, manual has NaN, +Inf or -Inf exactly where torch has the same
one. The values then compare as equal (`compare_arrays` counts identical specials as no error), and torch's
behaviour is the reference: a run that overflows on both sides the same way (a learning rate far too large)
passes, and its report says at which step and in which tensor the overflow began. Any other pattern (NaN on one
side only, Inf against NaN, +Inf against -Inf) is a disagreement: it fails the comparison, and the report gives
the first one next to the first non-finite value of each side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NonFinite:
    """One element: the step, the tensor, the element's index, and both sides' values there."""
    step: int
    name: str
    index: tuple
    manual: float
    torch: float

    def describe(self) -> str:
        return f"step {self.step}, {self.name}{list(self.index)}: manual {self.manual!r}, torch {self.torch!r}"

    def to_json(self) -> dict:
        values = {side: value if math.isfinite(value) else str(value)
                  for side, value in (("manual", self.manual), ("torch", self.torch))}
        return {"step": self.step, "name": self.name, "index": list(self.index), **values}


def _element(step: int, name: str, mask: np.ndarray, manual: np.ndarray, torch: np.ndarray) -> NonFinite:
    """The first element (C order) where `mask` is set; a side of another shape has no value there (NaN)."""
    index = tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()
    values = [float(side[index]) if side.shape == mask.shape else math.nan for side in (manual, torch)]
    return NonFinite(step, name, index, *values)


def _json(where: NonFinite | None):
    return None if where is None else where.to_json()


@dataclass
class NonFiniteLog:
    manual: NonFinite | None = None  # the first NaN/Inf in a manual tensor (steps, then tensors in report order)
    torch: NonFinite | None = None  # the first NaN/Inf in a torch tensor
    disagreement: NonFinite | None = None  # the first element where the two sides' NaN/Inf differ

    @property
    def seen(self) -> bool:
        return self.manual is not None or self.torch is not None

    @property
    def agree(self) -> bool:
        return self.disagreement is None

    def note(self, step: int, name: str, manual_value, torch_value) -> None:
        """Record the first non-finite element of each side and the first disagreement, once each."""
        manual = np.asarray(manual_value, dtype=np.float64)
        torch = np.asarray(torch_value, dtype=np.float64)
        bad_manual, bad_torch = ~np.isfinite(manual), ~np.isfinite(torch)
        if self.manual is None and bad_manual.any():
            self.manual = _element(step, name, bad_manual, manual, torch)
        if self.torch is None and bad_torch.any():
            self.torch = _element(step, name, bad_torch, manual, torch)
        if self.disagreement is None and manual.shape == torch.shape and (bad_manual.any() or bad_torch.any()):
            same = (manual == torch) | (np.isnan(manual) & np.isnan(torch))
            differ = (bad_manual | bad_torch) & ~same
            if differ.any():
                self.disagreement = _element(step, name, differ, manual, torch)

    def describe(self) -> list[str]:
        """Report lines; empty when both sides stayed finite."""
        if not self.seen:
            return []
        verdict = ("both sides agree: the same NaN/Inf at the same places (torch is the reference)" if self.agree
                   else "the sides DISAGREE on NaN/Inf")
        first = {side: "finite throughout" if where is None else f"first at {where.describe()}"
                 for side, where in (("manual", self.manual), ("torch", self.torch))}
        lines = [verdict, f"  manual: {first['manual']}", f"  torch:  {first['torch']}"]
        if self.disagreement is not None:
            lines.append(f"  first disagreement: {self.disagreement.describe()}")
        return lines

    def to_json(self) -> dict:
        return {"seen": self.seen, "agree": self.agree, "manual": _json(self.manual), "torch": _json(self.torch),
                "first_disagreement": _json(self.disagreement)}
