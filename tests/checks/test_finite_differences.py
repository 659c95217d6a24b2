"""The float64 finite-difference check (manual.gradcheck) at real sizes: no false alarm, every injected bug caught.

The layer is a user's PReLU from outside the package (examples/user_layer/prelu.py), its twin torch.nn.PReLU.
Each bug is checked both ways: element by element (the exhaustive path, small input) and along random directions
plus sampled elements (the scaled path, small and conv-sized inputs); each must fail both ways.
"""
import importlib.util
import pathlib

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.tolerances import GRADCHECK_TOLERANCE
from compare.testing import assert_module_matches
from manual.gradcheck import check_call, check_module

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "user_layer" / "prelu.py"
SPEC = importlib.util.spec_from_file_location("user_prelu", EXAMPLE)
assert SPEC is not None and SPEC.loader is not None
user_prelu = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(user_prelu)
CONV_SIZED = (16, 32, 16, 16)


class PReLUOneElementWrong(user_prelu.PReLU):
    """dL/dx 0.1% off at one element only: the directions must see what no sampled element does."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        grad_input[(0,) * grad_input.ndim] *= 1.001
        return grad_input


class PReLUSlightlyScaled(user_prelu.PReLU):
    """dL/dweight 1e-4 too large everywhere (e.g. a mean taken over one element too few)."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.weight.grad *= 1 + 1e-4
        return grad_input


BUGGY = {
    "weight-sum-axis": lambda channels: user_prelu.PReLU(channels, bug="weight-sum-axis", dtype=np.float64),
    "negative-slope": lambda channels: user_prelu.PReLU(channels, bug="negative-slope", dtype=np.float64),
    "one-element": lambda channels: PReLUOneElementWrong(channels, dtype=np.float64),
    "weight-scaled-1e-4": lambda channels: PReLUSlightlyScaled(channels, dtype=np.float64),
}
PATHS = {"exhaustive": {"exhaustive_up_to": np.inf}, "scaled": {"exhaustive_up_to": 0},
         # the bound given to the check: n(2h) only where the rounding term alone does not admit n(h)
         "scaled-bounded": {"exhaustive_up_to": 0, "bound": GRADCHECK_TOLERANCE}}


def prelu_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape, path", [((2, 4, 3, 3), "exhaustive"), ((2, 4, 3, 3), "scaled"), (CONV_SIZED, "scaled"),
                                         (CONV_SIZED, "scaled-bounded")],
                         ids=["small-exhaustive", "small-scaled", "conv-sized-scaled", "conv-sized-scaled-bounded"])
def test_the_correct_layer_passes(shape, path):
    result = check_module(user_prelu.PReLU(shape[1], dtype=np.float64), prelu_input(shape), eps=1e-5, **PATHS[path])
    assert result.passed(GRADCHECK_TOLERANCE), result.describe(GRADCHECK_TOLERANCE)


@pytest.mark.parametrize("bug", BUGGY)
@pytest.mark.heavy  # conv-sized finite differences
def test_every_bug_the_exhaustive_check_catches_the_scaled_one_catches(bug):
    small = {path: check_module(BUGGY[bug](4), prelu_input((2, 4, 3, 3)), eps=1e-5, **PATHS[path]) for path in PATHS}
    assert not any(result.passed(GRADCHECK_TOLERANCE) for result in small.values())
    for bound in (None, GRADCHECK_TOLERANCE):
        large = check_module(BUGGY[bug](32), prelu_input(CONV_SIZED), eps=1e-5, bound=bound)
        assert not large.passed(GRADCHECK_TOLERANCE), large.describe(GRADCHECK_TOLERANCE)
        assert {p.tensor for p in large.probes if p.error > GRADCHECK_TOLERANCE.allowed(p)} == {
            "weight" if "weight" in bug else "input"}


def test_elements_within_reach_of_a_declared_kink_are_left_out():
    """Inputs a hundredth of the step away from 0: crossing the kink would be an error of order 1."""
    x = prelu_input(CONV_SIZED)
    x[:, :, :2] = np.copysign(1e-7, x[:, :, :2])
    declared = check_module(user_prelu.PReLU(32, dtype=np.float64), x, eps=1e-5)
    assert declared.passed(GRADCHECK_TOLERANCE), declared.describe(GRADCHECK_TOLERANCE)
    assert declared.skipped["input"] >= 16 * 32 * 2 * 16
    undeclared = user_prelu.PReLU(32, dtype=np.float64)
    undeclared.kinks = ()
    assert not check_module(undeclared, x, eps=1e-5).passed(GRADCHECK_TOLERANCE)


def test_a_large_tensor_goes_along_directions_plus_samples_a_small_one_element_by_element():
    result = check_module(user_prelu.PReLU(32, dtype=np.float64), prelu_input(CONV_SIZED), eps=1e-5)
    kinds = {(p.tensor, isinstance(p.where, tuple)) for p in result.probes}
    assert kinds == {("input", False), ("input", True), ("weight", True)}
    assert sum(p.tensor == "weight" for p in result.probes) == 32
    assert 3 < sum(p.tensor == "input" for p in result.probes) <= 3 + 17
    assert result.passed(GRADCHECK_TOLERANCE)


def test_a_layer_of_several_inputs_is_probed_per_input():
    from tests.checks.test_modules import scaled_lookup_pair
    _, manual_module, arguments = scaled_lookup_pair()
    result = check_call(manual_module, arguments, exhaustive_up_to=0)
    assert {p.tensor for p in result.probes} == {"input1", "weight"} and result.passed(GRADCHECK_TOLERANCE)


def test_the_users_prelu_at_the_issues_size_passes_and_both_bugs_fail():
    """The issue's three checks (forward, backward vs torch in both dtypes, finite differences), end to end."""
    def inputs(rng):
        return rng.standard_normal(CONV_SIZED)

    assert_module_matches(user_prelu.PReLU(32), torch.nn.PReLU(32), inputs)
    for bug in ("weight-sum-axis", "negative-slope"):
        with pytest.raises(AssertionError, match=r"\[float64 finite differences\]: \d+ of \d+ probes fail"):
            assert_module_matches(user_prelu.PReLU(32, bug=bug), torch.nn.PReLU(32), inputs)


@pytest.mark.parametrize("layer", [mnn.ReLU(), mnn.LeakyReLU(0.2), mnn.ELU(alpha=0.5), mnn.SELU()], ids=repr)
def test_builtin_layers_declare_their_kink_and_inputs_on_it_are_left_out(layer):
    x = prelu_input((4, 8))
    x[:2] = np.array([0.0, -0.0, 1e-7, -1e-7] * 4).reshape(2, 8)
    result = check_module(layer, x, eps=1e-5)
    assert result.passed(GRADCHECK_TOLERANCE) and result.skipped["input"] == 16, result.describe(GRADCHECK_TOLERANCE)


def kinked_inside(declared: bool):
    """Linear then ReLU, with a quarter of the pre-activations a hundredth of the step from the ReLU's kink."""
    linear, relu = mnn.Linear(16, 64, dtype="float64"), mnn.ReLU()
    x = prelu_input((32, 16))
    pre = x @ linear.weight.data.T
    linear.bias.data[:] = -pre[0] + np.where(np.arange(64) % 4 == 0, 1e-7, 1.0)  # sample 0 sits by the kink
    if not declared:
        relu.kinks = ()
    return mnn.Sequential(linear, relu), x


@pytest.mark.parametrize("path", PATHS)
def test_a_step_across_a_kink_inside_the_model_is_retried_smaller(path):
    model, x = kinked_inside(declared=True)
    result = check_module(model, x, eps=1e-5, **PATHS[path])
    assert result.passed(GRADCHECK_TOLERANCE), result.describe(GRADCHECK_TOLERANCE)
    assert any(p.step < 1e-5 for p in result.probes)
    undeclared, x = kinked_inside(declared=False)
    assert not check_module(undeclared, x, eps=1e-5, **PATHS[path]).passed(GRADCHECK_TOLERANCE)
