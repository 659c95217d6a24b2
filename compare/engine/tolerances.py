"""The one place that says how close manual and torch must be. Tests never widen these.

float64: an element passes when |manual - torch| <= rtol·|torch| + atol, rtol 1e-10 (the project's target).
The atol floor exists because a relative test is meaningless for values that are (nearly) zero: there the
difference is the rounding residue of the terms that cancelled, which scales with the size of those terms, not
with the result. The catalogue's terms are O(1)-O(100) with sums of up to a few hundred of them; their residue is
~1e-16·100·(few hundred) ≈ 1e-14-1e-13, hence atol 1e-13. float64 runs are free-running from start to end and
catch every trajectory bug.

float32 (the harness and the module checks): an error model, not one global rtol (FLOAT32_ERROR_MODEL below).
A float32 result is the exact result of its inputs plus the rounding error of the algorithm that computed it.
That error depends on which kernels ran (SIMD width, summation order, FMA, SLEEF vs NumPy transcendentals:
TORCH_SEMANTICS §9), so two correct float32 implementations differ by up to the sum of their two rounding
errors, and those grow with the magnitudes that entered the computation (cancellation in a batch sum, a
parameter update p - lr·d that nearly cancels), not with the result. A fixed rtol/atol sits at the edge of
that on some CPU (issue 12: 122% of the old 1e-5/1e-6 on a Zen 4 with torch's AVX2/AVX512 kernels).
So each float32 step starts from torch's state (resync; a trajectory would amplify one-ulp differences,
TORCH_SEMANTICS §9.5), and a float64 reference r is computed *by torch* from the very same float32 state and
batch (compare/engine/reference.py). With t = torch's float32 result and m = manual's,
    |m - t| <= |m - r| + |t - r|.
|t - r| is torch's own rounding error, measured. Manual computes the same formulas on the same magnitudes in
the same precision, so its rounding error has the same bound; the realised errors of two summation orders /
FMA-or-not differ by a small factor. The bound for a tensor at a step is therefore
    allowed = spread_factor · S + ulps · u · M,      u = 2^-24 (float32 unit roundoff)
- S: the largest |t - r| over the tensor's elements and over the steps within ±window of this one where r was
  computed. Pooling elements and neighbouring steps turns one sample of a rounding error (which can be ~0 by
  luck, e.g. a 1-element bias) into an estimate of its level; magnitudes change slowly over a run.
  spread_factor 4 = 1 (torch's own error) + 3 (manual's may be up to 3x torch's: pairwise vs sequential sums,
  two roundings where torch fuses a multiply-add).
- M: the largest |t| over the same elements and steps; ulps·u·M is a floor for tensors torch happens to
  compute (nearly) exactly while manual lands a few ulps away (each correctly rounded or faithful kernel is
  within 1-2 ulps; a few of them in a row). ulps 16. For a parameter or state tensor after an optimizer step, M
  also takes the largest magnitude it held before the step (at steps where r was computed): an update that
  cancels rounds at the size of its terms, not of its result. logreg's one-step SGD update of its bias, 0.129 -
  0.127 = 0.0017 under ATEN_CPU_CAPABILITY=default at --seed 8, left torch (which rounds lr·g first) and
  manual's fused update one ulp of the terms apart, 7.4x a floor at the result's 16 ulps.
- P_i, for the parameters and optimizer state after a step: torch's gradient error carried through the update
  (compare/engine/reference.py), which makes the bound vary by element: allowed_i = spread_factor·(S + P_i)
  + ulps·u·M. Pooling over elements assumes their errors are of one level; an update breaks that where its
  sensitivity to the gradient differs by orders of magnitude between elements (Adam's first step moves an element
  by lr·g/(|g| + eps): about lr/eps times its gradient error where g cancels to about eps, almost nothing
  elsewhere), and S is then one element's one rounding sample, amplified. P_i is how far the float64 update
  moves element i when every gradient element moves by ±G, G torch's largest float32 gradient error over the
  parameter at this step. Without it, `python -m compare --kind training --dtype float32 --seed s` failed a
  correct case in 10 of 16 runs (seeds 1-8, ATEN_CPU_CAPABILITY=default and the best kernels: 1.0-2.8x the
  bound, each at such an element: a param or state of an Adam-family case); with it all 16 pass, the worst
  tensor at 92% of its bound. It is computed only at steps where a parameter or state tensor exceeds the bound
  of its own step's S and M, the only steps where it can change the verdict; elsewhere "tol used" leaves it out
  (so it may show more of the bound used than with it, never less).
- More samples in S for the loss and the gradients: where one of them with fewer than 16 elements
  (`least_samples`) exceeds the bound of its own step's S and M (and only there, as P), S also takes torch's
  |t - r| from the step's forward and backward run again from the same start on the batch with its rows
  re-ordered, 15 orders (compare/engine/reference.py's `rounding_samples`): other summation orders over the rows
  at the same magnitudes. In a run of one step a 1-element tensor (a bias's gradient, a batch mean that cancels)
  has no element or step to pool with, and its one sample of torch's error is below that error's spread σ 68% of
  the time; the largest of 16 samples, 0.2% of the time (a tensor of 16 elements or more pools as many). Runs
  of one step (`--steps 1`, seeds 0-29, the same two settings) failed 35 tensors in 60 runs with S alone, 3 with
  P, 2 with the start's M (1-element bias gradients, at 1.25x and 1.41x), none with these samples; with `--steps
  2`, none of 60 runs fails. A model that draws Dropout masks gets no samples (its masks belong to the rows).
It is bug-independent: S, M and P are torch's numbers, so a bug in manual cannot widen its own bound. (A float64
*manual* twin as the reference would not do: a manual bug is in both of its runs, so r would carry it and
|t - r| would grow with the bug.) It is tight enough: over the training catalogue (seed 0) allowed/M is 1.4e-6
at the median and 1.1e-5 at the 99th percentile of the 69,129 tensor-steps, with P and the start's M or without; the
largest, 1.05e-3, is where a tensor is small next to its neighbouring steps (rnnreg16-sine-mse-adam's 1-element
grad.decoder.bias at step 20, |t| = 3.7e-4; next 3.4e-4, logreg's bias gradient at step 0). So a bug that
changes a tensor by 1e-3 of its scale fails at almost every step it touches, as in float64
(tests/engine/test_float32_error_model.py injects such bugs into every kind of tensor).
The reference costs a float64 torch step, so it is computed at every `sample_every`-th step and at
every step where some tensor's difference exceeds the floor ulps·u·M alone (a step within the floor passes
whatever S is). The report's "tol used" is |m - t| / allowed, the same quantity as in float64.
Other users (plots, cv, train, recipes) still get `tolerance_for("float32")`: rtol 1e-5, atol 1e-6.

resync: float64 runs are free-running; float32 steps each start from torch's state (parameters, buffers,
optimizer state copied in), so every float32 step is checked on its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manual.gradcheck import FiniteDifferenceBound


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


@dataclass(frozen=True)
class ErrorModel:
    """The float32 bound of the module docstring: allowed = spread_factor·S + ulps·unit_roundoff·M."""
    spread_factor: float
    ulps: float
    unit_roundoff: float
    window: int  # S and M pool the steps within ±window
    sample_every: int  # the float64 reference runs at least at every this-many-th step
    # a loss or gradient tensor of fewer elements, beyond its own step's bound, gets this many samples of torch's
    # error: its batch re-ordered this many times less one (compare/engine/reference.py's `rounding_samples`)
    least_samples: int

    def floor(self, magnitude):
        return self.ulps * self.unit_roundoff * magnitude

    def allowed(self, spread, magnitude):
        return self.spread_factor * spread + self.floor(magnitude)


FLOAT32_ERROR_MODEL = ErrorModel(spread_factor=4.0, ulps=16.0, unit_roundoff=2.0 ** -24, window=4, sample_every=4,
                                  least_samples=16)


def error_model_for(dtype) -> ErrorModel | None:
    """The error model the harness and the module checks use for `dtype` (float32), or None (float64: rtol/atol)."""
    return FLOAT32_ERROR_MODEL if np.dtype(dtype).name == "float32" else None


# The update rules alone: optimizers fed the same gradients, clipping, optimizer paths, and runs continued after
# moving the state across (tests/manual/test_optim.py, test_clip_grad.py, test_paths.py, test_interchange.py).
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


def one_rounding_of(terms: np.ndarray, dtype) -> np.ndarray:
    """How far two float32 evaluations of a fused op (a + s·b, a + s·b·c, lerp) may part when one rounds once (an
    emulated fma, torch's vectorised kernels) and the other also rounds the product first (torch's baseline
    kernels, ATEN_CPU_CAPABILITY=default): one more rounding of a term, at most eps·|term| <= eps·`terms`, with
    `terms` a bound on the terms' magnitudes (the result may cancel far below them)."""
    return np.finfo(dtype).eps * terms


def update_rule_tolerance_for(dtype) -> Tolerance:
    return UPDATE_RULE_TOLERANCES[np.dtype(dtype).name]

# Finite differences (manual.gradcheck, float64): the bound of a probe is an error model of the central difference
# quotient n(h), both terms measured on the run (manual/gradcheck.py's docstring derives them):
#     allowed = truncation_factor·|n(h) - n(2h)| + rounding_ulps·u·(S/h + Σ|dL/dv ⊙ d|)
# - truncation_factor 2: |n(h) - n(2h)| is 3x the truncation of n(h) (central differences: error c·h²), so 2 leaves
#   a factor 6 for the realised rounding of the two quotients, which may cancel by luck in their difference.
# - rounding_ulps 16: u·S is one ulp of the loss's summed terms; each output element is a few roundings away from
#   its exact value (a sum of products, a transcendental), and two evaluations enter the quotient.
# Measured over the module catalogue (tests/checks/test_modules.py): the largest |a - n| / allowed is 0.46 (huber-none-at-delta,
# where the second derivative jumps), next 0.17; the input values at a declared kink are left out.
# A wrong derivative misses it by orders of magnitude (tests/checks/test_finite_differences.py injects bugs).
GRADCHECK_TOLERANCE = FiniteDifferenceBound(truncation_factor=2.0, rounding_ulps=16.0)
