"""Where and why two free-running float64 twins parted: the line `cv` and `train` print under a split whose test
metrics disagree.

Each backend runs free from its first step to its last (compare/realdata/training.py), so the rounding difference
of the first step (about 1e-16 in float64) can grow. On a chaotic run (a large learning rate, ReLUs switching on
and off) it grows geometrically and reaches the metrics, though every step computes the same function on both
sides. A wrong backward or update differs at the step it first runs. To tell them apart, the split is trained
again from the start (the run is deterministic: the same initial weights, the same batches), the parameters
compared after every step with the dtype's tolerance (compare/engine/tolerances.py). The first step that leaves
it is replayed from torch's state before it, copied into manual (the float32 harness's re-sync): when the
replayed step agrees, both backends computed that step alike, and what parted them is rounding amplified by the
run; when it does not, that step is wrong, and its first tensor beyond the tolerance is named (the gradients from
the last layer back, then the parameters: the cause, not what it spoiled). In float32 one step alone can differ by
more than a fixed tolerance (the harness judges float32 with an error model instead), so a float32 split is sent
to float64 rather than judged.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from compare.engine.error_table import TensorError
from compare.engine.twins import Twin, copy_torch_state_into_manual, manual_step, torch_step
from compare.realdata.training import Recipe, Split, TwinTrainer, model_errors


@dataclass(frozen=True)
class Divergence:
    step: int  # the first step after which a parameter is beyond the tolerance, counted over the run from 1
    epoch: int
    before: float  # the parameters' worst |manual - torch| / allowed before that step (1 is the tolerance)
    after: float  # and after it
    replayed: TensorError  # that step replayed from torch's state: its first tensor beyond the tolerance, or worst

    def describe(self) -> str:
        where = (f"the parameters left the tolerance at step {self.step} (epoch {self.epoch}), their worst "
                 f"difference {self.before:.2g}x the allowed before it, {self.after:.2g}x after")
        if self.replayed.passed:
            return (f"{where}; that step replayed from torch's state agrees (worst: {self.replayed.name}, "
                    f"{self.replayed.ratio:.2g}x): both backends compute it alike, and what parted them is their "
                    "rounding differences, amplified by the run (a smaller --lr usually keeps such a run together)")
        return (f"{where}; that step replayed from torch's state differs too ({self.replayed.describe()}, "
                f"{self.replayed.ratio:.3g}x the allowed): a wrong backward or update")


def parting(recipe: Recipe, split: Split, progress: Callable[[str], None] | None = None) -> str:
    """Where and why the twins of a split whose test metrics disagree parted, in one sentence."""
    if recipe.model[1].get("dropout"):
        return "dropout > 0: each backend draws its own masks, so the twins train two different networks"
    if recipe.dtype != "float64":  # one float32 step can differ by more than a fixed tolerance: the harness's float32
        # error model measures torch's own error against a float64 reference for that (compare/engine/tolerances.py)
        return (f"{recipe.dtype} steps are judged here by a fixed tolerance, which rounding alone can exceed: run it "
                "in float64 (the default) to tell amplified rounding from a wrong step")
    divergence = first_divergence(recipe, split, progress)
    if divergence is None:
        return ("the parameters stay within the tolerance at every step: the test metrics differ by the rounding of "
                "the evaluation alone")
    return divergence.describe()


def first_divergence(recipe: Recipe, split: Split,
                     progress: Callable[[str], None] | None = None) -> Divergence | None:
    """The first step of the split's run whose parameters leave the dtype's tolerance, with that step replayed;
    None when every step stays within it. `progress` is told each epoch it starts."""
    trainer = TwinTrainer(recipe, split)
    before, step = 0.0, 0  # manual starts from torch's state_dict
    for epoch in range(1, recipe.epochs + 1):
        if progress:
            progress(f"locating where the twins parted, epoch {epoch}/{recipe.epochs}")
        for x, y in trainer.loader:
            step += 1
            saved = copy.deepcopy((trainer.torch, trainer.manual))
            torch_step(trainer.torch, x, y, recipe.device)
            manual_step(trainer.manual, x, y)
            after = max(error.ratio for error in model_errors(trainer.torch, trainer.manual, recipe.dtype, step=step))
            if after > 1.0:
                return Divergence(step, epoch, before, after, _replayed(*saved, x, y, recipe, step))
            before = after
    return None


def _replayed(torch_twin: Twin, manual_twin: Twin, x, y, recipe: Recipe, step: int) -> TensorError:
    """One step of both twins from torch's state: its first tensor beyond the tolerance in the order the step makes
    them (the gradients from the last layer back, then the updated parameters), the cause rather than what it
    spoiled; the worst one when all are within."""
    copy_torch_state_into_manual(torch_twin, manual_twin)
    torch_step(torch_twin, x, y, recipe.device)
    manual_step(manual_twin, x, y)
    errors = model_errors(torch_twin, manual_twin, recipe.dtype, ("grad.", "param."), step)
    in_order = [e for e in reversed(errors) if e.name.startswith("grad.")] + [e for e in errors
                                                                               if e.name.startswith("param.")]
    return next((error for error in in_order if not error.passed), max(errors, key=lambda error: error.ratio))
