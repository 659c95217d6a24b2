"""Extreme inputs: where a naive formula overflows, cancels or divides by (almost) zero, manual must stay finite
wherever torch does and equal to torch within compare/engine/tolerances.py.

Three catalogues, each checked by the existing comparison code (tests/checks/test_extremes.py):
- EXTREME_MODULE_CASES: module cases (compare/catalogue/case_types.py's ModuleCase, checked by module_check) with logits
  of ±1e4, every activation at ±1e3, probabilities exactly 0 and 1 for BCE, residuals of 1e10 for the regression
  losses, inputs of 1e15 for the affine layers, BatchNorm in eval with a running variance of 0;
- TINY_VARIANCE_CASES: BatchNorm channels with (almost) no variance (see there for float32);
- EXTREME_OPTIMIZER_CASES: every optimizer fed gradients of magnitude 1e10, or of magnitudes spread over
  1e-10 .. 1e10 in one tensor (compare/checks/update_rule.py);
- DIVERGENT_CASE: a training run whose learning rate is far too large: both sides overflow to Inf and NaN the same
  way, at the same step, and the harness reports it as agreement (compare/engine/non_finite.py).
None of the module cases run through finite differences (gradcheck=False): at these magnitudes a central
difference is dominated by rounding or steps across a saturated region.
"""
import numpy as np

from compare.catalogue.case_types import Case, ModuleCase
from compare.catalogue.inputs import binary, class_indices, with_values
from compare.catalogue.module_cases import W3, W4
from compare.catalogue.training_cases import REGRESSION

SIGNS = [1.0, -1.0] * 4


def large(*shape, magnitude):
    """±magnitude in the first entries, then normals scaled by `magnitude`: every element is huge."""
    return with_values(*shape, values=[magnitude * s for s in SIGNS] + [0.0], scale=magnitude)


def large_log_probabilities(*shape, magnitude=1e4):
    """log_softmax over dim 1 of logits scaled by `magnitude`: entries 0 and about -2·magnitude."""
    def make(rng):
        x = magnitude * rng.standard_normal(shape)
        shifted = x - x.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return make


def exact_probabilities(*shape):
    """Probabilities that are all exactly 0 or 1."""
    return lambda rng: (rng.random(shape) < 0.5).astype(np.float64)


def channel(*shape, channel_values):
    """Normals, with channel 0 (dim 1) replaced by `channel_values(n)` for its n = N·L entries."""
    def make(rng):
        x = rng.standard_normal(shape)
        moved = np.moveaxis(x, 1, -1)
        moved[..., 0] = channel_values(moved[..., 0].size).reshape(moved[..., 0].shape)
        return x
    return make


def constant(n):
    """A channel with variance exactly 0. 0.75 is dyadic, so any summation order gives the exact mean. With 3.7,
    NumPy's float64 mean is 1 ulp off (torch's is exact), amplified 1/√eps-fold: manual's x̂ is then 1.4e-13 and
    grad.weight 2.2e-13 where torch's is exactly 0, above the float64 atol of 1e-13."""
    return np.full(n, 0.75)


def apart_1e4(n):
    """Values 1e-4 apart around 1: a variance of ~1e-8 · n², far below eps = 1e-5."""
    return 1 + 1e-4 * np.arange(n)


def zero_running_var(channels):
    return lambda rng: {"running_mean": rng.standard_normal(channels), "running_var": np.zeros(channels)}


ACTIVATIONS = [("identity", "Identity", {}), ("relu", "ReLU", {}), ("leaky_relu", "LeakyReLU", {}),
               ("elu", "ELU", {}), ("selu", "SELU", {}), ("gelu", "GELU", {}),
               ("gelu_tanh", "GELU", {"approximate": "tanh"}), ("silu", "SiLU", {}), ("softplus", "Softplus", {}),
               ("softplus-beta2", "Softplus", {"beta": 2.0, "threshold": 5.0}), ("sigmoid", "Sigmoid", {}),
               ("tanh", "Tanh", {})]
REGRESSION_LOSSES = [("l1", "L1Loss", {}), ("mse", "MSELoss", {}), ("huber", "HuberLoss", {"delta": 2.0}),
                     ("smooth_l1", "SmoothL1Loss", {"beta": 0.5})]

EXTREME_MODULE_CASES = [
    *[ModuleCase(f"{label}-at-1e3", (name, kwargs), large(4, 6, magnitude=1e3), gradcheck=False)
      for label, name, kwargs in ACTIVATIONS],
    ModuleCase("softmax-logits-1e4", ("Softmax", {"dim": 1}), large(4, 5, magnitude=1e4), gradcheck=False),
    ModuleCase("log_softmax-logits-1e4", ("LogSoftmax", {"dim": 1}), large(4, 5, magnitude=1e4), gradcheck=False),
    ModuleCase("ce-logits-1e4", ("CrossEntropyLoss", {}), large(6, 4, magnitude=1e4), class_indices(6, classes=4),
               gradcheck=False),
    ModuleCase("ce-logits-1e4-weight-smoothing-none",
               ("CrossEntropyLoss", {"weight": W4, "label_smoothing": 0.2, "reduction": "none"}),
               large(6, 4, magnitude=1e4), class_indices(6, classes=4), gradcheck=False),
    ModuleCase("ce-logits-1e4-3d-ignore-sum", ("CrossEntropyLoss", {"reduction": "sum", "ignore_index": 1}),
               large(2, 3, 5, magnitude=1e4), class_indices(2, 5, classes=3), gradcheck=False),
    ModuleCase("nll-log-probabilities-of-1e4-logits", ("NLLLoss", {"weight": W3}), large_log_probabilities(6, 3),
               class_indices(6, classes=3), gradcheck=False),
    ModuleCase("bce_with_logits-1e4", ("BCEWithLogitsLoss", {}), large(6, 3, magnitude=1e4), binary(6, 3),
               gradcheck=False),
    ModuleCase("bce_with_logits-1e4-weight-pos_weight-none",
               ("BCEWithLogitsLoss", {"weight": W3, "pos_weight": np.array([3.0, 0.5, 1.0]), "reduction": "none"}),
               large(6, 3, magnitude=1e4), binary(6, 3), gradcheck=False),
    ModuleCase("bce-probabilities-all-0-or-1", ("BCELoss", {}), exact_probabilities(6, 3), binary(6, 3),
               gradcheck=False),
    ModuleCase("bce-probabilities-all-0-or-1-weight-none", ("BCELoss", {"weight": W3, "reduction": "none"}),
               exact_probabilities(6, 3), binary(6, 3), gradcheck=False),
    ModuleCase("bce-probabilities-0-and-1-sum", ("BCELoss", {"reduction": "sum"}),
               with_values(4, 2, values=[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.5]),
               with_values(4, 2, values=[0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.0, 1.0]), gradcheck=False),
    *[ModuleCase(f"{label}-residuals-1e10", (name, kwargs), large(4, 3, magnitude=1e10), large(4, 3, magnitude=1e9),
                 gradcheck=False) for label, name, kwargs in REGRESSION_LOSSES],
    ModuleCase("linear-inputs-1e15", ("Linear", {"in_features": 5, "out_features": 3}), large(4, 5, magnitude=1e15),
               gradcheck=False),
    ModuleCase("maxout-inputs-1e15", ("Maxout", {"in_features": 5, "out_features": 3, "pieces": 2}),
               large(4, 5, magnitude=1e15), gradcheck=False),
    ModuleCase("batchnorm-eval-zero-running-var", ("BatchNorm1d", {"num_features": 4}), channel(8, 4,
               channel_values=constant), state=zero_running_var(4), train=False, gradcheck=False),
]

# Variances (almost) 0, where BatchNorm's output is (x - μ)/√eps and its gradients scale with 1/√eps: finite on both
# sides, and equal within the tolerances in float64. In float32, torch's CPU kernel evaluates y = fma(x, α, β') with
# α = γ/√(σ² + eps) and β' = β - μ·α rounded to float32: two terms of size |x|/√eps cancel, so its output is off
# the exact result (the same float32 inputs in float64) by up to half an ulp of |x|/√eps: 7.6e-6 for a constant
# channel of 0.75, 7.8e-6 for values 1e-4 apart around 1, several times the float32 atol of 1e-6; manual's
# (x - μ)·s, computed in float64 and rounded once, is off by one float32 rounding. tests/checks/test_extremes.py checks
# these cases against torch in float64, and in float32 against the exact result, asserting torch's loss of digits
# there (so the day torch computes them accurately, the test says so and they move to EXTREME_MODULE_CASES).
TINY_VARIANCE_CASES = [
    ModuleCase("batchnorm-constant-channel", ("BatchNorm1d", {"num_features": 4}),
               channel(8, 4, channel_values=constant), gradcheck=False),
    ModuleCase("batchnorm-constant-channel-3d-momentum-none", ("BatchNorm1d", {"num_features": 3, "momentum": None}),
               channel(4, 3, 5, channel_values=constant), gradcheck=False),
    ModuleCase("batchnorm-all-channels-constant", ("BatchNorm1d", {"num_features": 3}),
               lambda rng: np.tile(rng.integers(-8, 8, 3) / 4, (6, 1)), gradcheck=False),
    ModuleCase("batchnorm-values-1e-4-apart", ("BatchNorm1d", {"num_features": 4}),
               channel(8, 4, channel_values=apart_1e4), gradcheck=False),
    ModuleCase("batchnorm-values-1e-4-apart-3d-noaffine", ("BatchNorm1d", {"num_features": 3, "affine": False}),
               channel(4, 3, 5, channel_values=apart_1e4), gradcheck=False),
]


def huge(rng, shape):
    """Gradients of magnitude ~1e10 (their squares, ~1e20, still fit in float32)."""
    return 1e10 * rng.standard_normal(shape)


def spread(rng, shape):
    """Magnitudes spread log-uniformly over 1e-10 .. 1e10 within one tensor, random signs."""
    return rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-10, 10, shape)


OPTIMIZER_CONFIGS = [
    ("SGD", {"lr": 1e-3}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 1e-3, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "centered": True, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "weight_decay": 1e-2}),
    ("AdamW", {"lr": 1e-2}),
]
EXTREME_OPTIMIZER_CASES = [(name, kwargs, gradient) for name, kwargs in OPTIMIZER_CONFIGS
                           for gradient in (huge, spread)]

DIVERGENT_CASE = Case("linreg-mse-sgd_lr1e10-diverges", ("LinearRegression", {"in_features": 5}), ("MSELoss", {}),
                      ("SGD", {"lr": 1e10}), REGRESSION, steps=40)
