"""The one place that says how close manual and torch must be. Tests never widen these.

An element passes when |manual - torch| <= rtol·|torch| + atol.

rtol: float64 1e-10, float32 1e-5 (the project's targets). The atol floors exist because a relative test
is meaningless for values that are (nearly) zero: there the difference is the rounding residue of the
terms that cancelled, which scales with the size of those terms, not with the result.
- float64 atol 1e-13: the catalogue's terms are O(1)-O(100) with sums of up to a few hundred of them;
  their residue is ~1e-16·100·(few hundred) ≈ 1e-14-1e-13.
- float32 atol 1e-6: the same estimate with float32's unit roundoff 6e-8 and O(1)-O(10) terms (matmuls
  of fan-in up to 64 in the catalogue: TORCH_SEMANTICS §9.3 measured 1.9e-6 at K=16 for values ~12;
  such values are checked by rtol, the floor only covers results near zero).

resync: a float32 trajectory amplifies one-ulp differences step after step (TORCH_SEMANTICS §9.5: an
Adam MLP matched to 4e-15 in float64 but drifted to 2.6e-6 in float32 over 200 steps). float64 runs are
free-running from start to end and catch every trajectory bug; float32 steps each start from torch's
state (parameters, buffers, optimizer state copied in), so every float32 step is checked on its own.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    resync: bool

    def allowed(self, reference: np.ndarray) -> np.ndarray:
        return self.rtol * np.abs(reference) + self.atol


TOLERANCES = {
    "float64": Tolerance(rtol=1e-10, atol=1e-13, resync=False),
    "float32": Tolerance(rtol=1e-5, atol=1e-6, resync=True),
}


def tolerance_for(dtype) -> Tolerance:
    return TOLERANCES[np.dtype(dtype).name]


# The update rules alone: optimizers fed the same gradients, clipping, optimizer paths, and runs continued after
# moving the state across (tests/test_optim.py, test_clip_grad.py, test_paths.py, test_interchange.py).
# rtol: the optimizer issue's targets, float64 1e-12 and float32 1e-5, free-running (no resync). The atol floors
# cover elements that cancel to (nearly) zero, where the difference is the rounding residue of the cancelled
# terms. Those terms are O(1)-O(10) (N(0,1) gradients; momentum buffers of up to 1/(1-momentum) = 10 gradients;
# parameters after 200 steps), and the floors are two ulps of a term of size 10:
# - float64 atol 4e-15 (ulp(10) = 1.8e-15). torch fuses multiply-adds (one rounding) where NumPy rounds twice.
# - float32 atol 2e-6 (ulp(10) = 9.5e-7). The float32 ops are emulated bit for bit (manual/optim/_ops.py) except
#   sqrt, where torch's kernel is 1 ulp below the correctly rounded value in ~0.6% of elements.
# Measured, largest excess over the rtol part, over every check of those tests: float64 3e-17, float32 1.4e-7.
UPDATE_RULE_TOLERANCES = {
    "float64": Tolerance(rtol=1e-12, atol=4e-15, resync=False),
    "float32": Tolerance(rtol=1e-5, atol=2e-6, resync=False),
}


def update_rule_tolerance_for(dtype) -> Tolerance:
    return UPDATE_RULE_TOLERANCES[np.dtype(dtype).name]

# Finite differences (manual.gradcheck, float64): the bound on the relative error of a hand-derived
# backward against central differences. The step is chosen per case (compare/module_cases.py) so that
# truncation plus rounding stay well below it; a wrong derivative misses it by orders of magnitude.
GRADCHECK_TOLERANCE = 1e-6
