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
