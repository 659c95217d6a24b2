"""The harness must be able to fail: deliberately wrong backward passes are reported, naming the tensor."""
import argparse

import numpy as np
import pytest

import manual.nn as nn
import manual.nn.functional.nll as nll_functional
from compare.catalogue.extreme_cases import EXTREME_MODULE_CASES
from compare.catalogue.module_cases import MODULE_CASES
from compare.catalogue.training_cases import CATALOGUE, NLL_CASES
from compare.cli import check
from compare.engine.comparison import compare_arrays
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import build_twins

nll_backward = nll_functional.nll_loss_backward


class FlippedSignLinear(nn.Linear):
    """dL/dW with the wrong sign."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.weight.grad = -self.weight.grad
        return grad_input


class UnscaledMSELoss(nn.MSELoss):
    """'mean' backward that forgets the 1/N."""

    def backward(self, grad_output=None):
        return super().backward(grad_output) * self.last_numel

    def forward(self, input, target):
        self.last_numel = input.size
        return super().forward(input, target)


def twins_for(case_name, dtype):
    case = next(c for c in CATALOGUE if c.name == case_name)
    torch_twin, manual_twin = build_twins(case, dtype, "cpu", seed=0)
    return case, torch_twin, manual_twin


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_flipped_weight_gradient_is_reported(dtype):
    case, torch_twin, manual_twin = twins_for("mlp6-7_tanh-ce-sgd_nesterov_wd", dtype)
    broken = FlippedSignLinear(6, 7, dtype=dtype)
    broken.load_state_dict(manual_twin.model[2].state_dict())
    manual_twin.model._modules["2"] = broken
    manual_twin.optimizer.param_groups[0]["params"][2:4] = [broken.weight, broken.bias]
    result = run_twins(torch_twin, manual_twin, case.data.stream(0, dtype), 3, dtype, "cpu", case.name)
    assert not result.passed
    assert result.first_mismatch.step == 0 and result.first_mismatch.name == "grad.2.weight"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_missing_mean_factor_is_reported(dtype):
    case, torch_twin, manual_twin = twins_for("linreg-mse-sgd", dtype)
    manual_twin.loss_fn = UnscaledMSELoss()
    result = run_twins(torch_twin, manual_twin, case.data.stream(0, dtype), 3, dtype, "cpu", case.name)
    assert not result.passed
    assert result.first_mismatch.name == "grad.input"


def test_one_sided_nan_fails_and_equal_nan_passes():
    tolerance = tolerance_for("float64")
    assert not compare_arrays(0, "x", np.array([np.nan, 1.0]), np.array([0.0, 1.0]), tolerance).passed
    assert compare_arrays(0, "x", np.array([np.nan, np.inf]), np.array([np.nan, np.inf]), tolerance).passed
    assert not compare_arrays(0, "x", np.array([np.inf]), np.array([-np.inf]), tolerance).passed


@pytest.mark.heavy  # the whole catalogue, one step
def test_python_m_compare_alone_catches_a_sign_flip_in_the_nll_backward(monkeypatch, capsys):
    """`python -m compare` (the check's main over the whole catalogue, in this process: -j 1) fails, and among the
    training cases only on the NLLLoss and CrossEntropyLoss cases with options (plain CrossEntropyLoss takes a
    shortcut that skips the NLL backward); among the module and extreme cases, only on NLLLoss and
    CrossEntropyLoss ones. One step per case: the flipped gradient is wrong at the first one."""
    def flipped(*args, **kwargs):
        return -nll_backward(*args, **kwargs)
    monkeypatch.setattr(nll_functional, "nll_loss_backward", flipped)
    monkeypatch.setattr(nn.NLLLoss, "derivative", staticmethod(flipped))
    args = argparse.ArgumentParser()
    check.add_arguments(args)
    assert check.main(args.parse_args(["--dtype", "float64", "--device", "cpu", "--steps", "1", "-j", "1"])) == 1
    failed = {line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL ")}
    training = {case.name for case in CATALOGUE}
    assert failed & training == {case.name for case in NLL_CASES}
    losses = {case.name: case.module[0] for case in MODULE_CASES + EXTREME_MODULE_CASES}
    assert {losses[name] for name in failed - training} == {"NLLLoss", "CrossEntropyLoss"}
