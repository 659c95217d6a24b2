"""Every module and loss of the module catalogue, three ways: finite differences, torch float64, torch float32."""
import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare import registry
from compare.catalogue import module_cases
from compare.catalogue.case_types import ModuleCase
from compare.catalogue.inputs import class_indices, normal
from compare.checks.module_check import build_pair, check_module_case, check_pair, fix_dropout_masks, make_arguments
from compare.engine.tolerances import GRADCHECK_TOLERANCE
from compare.engine.twins import to_numpy
from manual.gradcheck import check_call


@pytest.mark.parametrize("case", [c for c in module_cases.MODULE_CASES if c.gradcheck], ids=lambda c: c.name)
@pytest.mark.heavy  # finite differences of every module case
def test_backward_matches_finite_differences(case):
    _, module = build_pair(case, "float64")
    fix_dropout_masks(module)
    result = check_call(module, make_arguments(case, "float64"), target=case.target is not None, eps=case.fd_eps,
                        bound=GRADCHECK_TOLERANCE)
    assert result.passed(GRADCHECK_TOLERANCE), f"{case.name}: {result.describe(GRADCHECK_TOLERANCE)}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", module_cases.MODULE_CASES, ids=lambda c: c.name)
def test_matches_torch_autograd(case, dtype):
    comparisons = check_module_case(case, dtype)
    failing = [c.describe() for c in comparisons if not c.passed]
    assert not failing, f"{case.name} [{dtype}]: " + "; ".join(failing)  # NaN/Inf where the case needs finite fails


# -- the checker itself on a module with an integer input, two float inputs' worth of arguments and two outputs --
class ManualScaledLookup(mnn.Module):
    """y = weight[index] ⊙ x and s = Σ_j y_j: (index (N,) int, x (N, D)) -> ((N, D), (N,))."""

    def __init__(self, num: int, dim: int, wrong_x_grad: bool = False, dtype=None):
        super().__init__()
        self.weight = mnn.Parameter(np.zeros((num, dim), dtype=dtype))
        self.wrong_x_grad = wrong_x_grad

    def forward(self, index, x):
        self.save_for_backward(index, x)
        y = self.weight.data[index] * x
        return y, y.sum(-1)

    def backward(self, grad_output, grad_sum):
        index, x = self.saved_for_backward()
        grad_y = grad_output + grad_sum[:, None]
        grad_weight = np.zeros_like(self.weight.data)
        np.add.at(grad_weight, index, grad_y * x)
        self.accumulate_parameter_grads(weight=grad_weight)
        grad_x = (grad_output if self.wrong_x_grad else grad_y) * self.weight.data[index]
        return None, grad_x


class TorchScaledLookup(torch.nn.Module):
    def __init__(self, num: int, dim: int, wrong_x_grad: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(num, dim, dtype=torch.float64))

    def forward(self, index, x):
        y = self.weight[index] * x
        return y, y.sum(-1)


def scaled_lookup_pair(wrong_x_grad=False):
    torch.manual_seed(0)
    torch_module = TorchScaledLookup(4, 3)
    manual_module = ManualScaledLookup(4, 3, wrong_x_grad)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    rng = np.random.default_rng(0)
    return torch_module, manual_module, (np.array([0, 2, 2, 3, 1]), rng.standard_normal((5, 3)))


def test_several_inputs_integer_input_and_two_outputs_are_compared():
    torch_module, manual_module, arguments = scaled_lookup_pair()
    comparisons = check_pair(torch_module, manual_module, arguments, "float64")
    assert [c.name for c in comparisons] == ["output.0", "output.1", "grad.x", "grad.weight"]  # no grad for index
    assert all(c.passed for c in comparisons), [c.describe() for c in comparisons]
    assert check_call(manual_module, arguments).passed(GRADCHECK_TOLERANCE)


def test_a_wrong_input_gradient_fails_by_name_and_finite_differences_see_it():
    torch_module, manual_module, arguments = scaled_lookup_pair(wrong_x_grad=True)
    failing = [c.name for c in check_pair(torch_module, manual_module, arguments, "float64") if not c.passed]
    assert failing == ["grad.x"]
    result = check_call(manual_module, arguments)
    assert not result.passed(GRADCHECK_TOLERANCE) and result.worst(GRADCHECK_TOLERANCE).tensor == "input1"


@pytest.mark.parametrize("wrong", [False, True])
def test_a_registered_case_with_an_integer_input_and_extra_inputs_runs_the_catalogue_checks(wrong):
    case = ModuleCase("user-scaled-lookup", ("ScaledLookup", {"num": 4, "dim": 3, "wrong_x_grad": wrong}),
                      class_indices(5, classes=4), extra_inputs=(normal(5, 3),))
    with registry.isolated():
        registry.register_module("ScaledLookup", ManualScaledLookup, TorchScaledLookup)
        registry.register_case(case)
        (selected,) = module_cases.select("user-scaled")
        index, x = make_arguments(selected, "float32")
        assert index.dtype == np.int64 and x.dtype == np.float32
        for dtype in ("float32", "float64"):
            failing = [c.name for c in check_module_case(selected, dtype) if not c.passed]
            assert failing == (["grad.x"] if wrong else []), dtype
        _, module = build_pair(selected, "float64")
        assert check_call(module, make_arguments(selected, "float64"), eps=selected.fd_eps).passed(
            GRADCHECK_TOLERANCE) is not wrong


def test_a_share_of_ignored_targets_leaves_one_counted_whatever_the_seed():
    """ce-ignore-in-range (8 targets of 4 classes, ignore_index 1: in range, so the targets drawn as 1 are ignored
    too) drew only 1s at seed 21, and a mean over no target (0/0) failed the case. A share of 1 still ignores
    every target (ce-all-ignored)."""
    case = next(c for c in module_cases.MODULE_CASES if c.name == "ce-ignore-in-range")
    assert [c.name for c in check_module_case(case, "float64", seed=21) if not c.passed] == []
    make = class_indices(8, classes=4, ignore=1, ignored_share=0.2)
    assert all((make(np.random.default_rng(seed)) != 1).any() for seed in range(1000))
    assert (class_indices(3, classes=4, ignore=-100, ignored_share=1.0)(np.random.default_rng(21)) == -100).all()
