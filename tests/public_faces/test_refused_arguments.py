"""Arguments of the public faces that cannot mean a check (no dtype, no step, a seed no generator takes, a step of
zero, a device torch does not see) are refused naming the function and the value, before anything is drawn,
copied or cast: a refused call leaves the models and optimizers as they were. The plugin's --crosscheck-seed is
refused when pytest reads the command line, as a usage error, not in every test that asks for a fixture. The
registry refuses such a case when it is registered, every reason named, and keeps nothing of it."""
import dataclasses
import re

import numpy as np
import pytest
import torch

import manual.nn as mnn
import manual.optim
from compare import registry
from compare.catalogue import module_cases, training_cases
from compare.checks import selection
from compare.testing import assert_model_trains_like, assert_module_matches

pytest_plugins = ["pytester"]
SEED_RANGE = r"seed must be in \[0, 2\*\*64 - 1\] \(torch\.manual_seed's range\), got "
STEP_SIZE = r"fd_eps \(the finite-difference step\) must be a finite number above 0, got "

# options -> the error and what it says after "assert_module_matches: "
MODULE_REFUSALS = {
    "seed -1": ({"seed": -1}, ValueError, SEED_RANGE + "-1"),
    "seed 2**64": ({"seed": 2 ** 64}, ValueError, SEED_RANGE + "18446744073709551616"),
    "seed 1.5": ({"seed": 1.5}, TypeError, "seed must be an integer, got 1.5"),
    "no dtype": ({"dtypes": ()}, ValueError, r"dtypes must name one or more of \('float32', 'float64'\), got \(\)"),
    "float16": ({"dtypes": ["float16"]}, ValueError, r"dtypes must name one or more of .*, got \('float16',\)"),
    "a string": ({"dtypes": "float32"}, TypeError, r"dtypes must be a collection of dtype names, got the string "
                                                   r"'float32' \(one dtype: \('float32',\)\)"),
    "fd_eps 0": ({"fd_eps": 0.0}, ValueError, STEP_SIZE + "0.0"),
    "fd_eps < 0": ({"fd_eps": -1e-5}, ValueError, STEP_SIZE + "-1e-05"),
    "fd_eps nan": ({"fd_eps": float("nan")}, ValueError, STEP_SIZE + "nan"),
}


@pytest.mark.parametrize("options, error, message", MODULE_REFUSALS.values(), ids=MODULE_REFUSALS)
def test_assert_module_matches_refuses_arguments_that_cannot_mean_a_check(options, error, message):
    with pytest.raises(error, match="^assert_module_matches: " + message):
        assert_module_matches(mnn.Linear(5, 3), torch.nn.Linear(5, 3), lambda rng: rng.standard_normal((4, 5)),
                              **options)


@pytest.mark.parametrize("modules, given", [
    ((torch.nn.Linear(5, 3), mnn.Linear(5, 3)), "torch's Linear, then a non-torch Linear"),  # was "Invalid device
    ((mnn.Linear(5, 3), mnn.Linear(5, 3)), "a non-torch Linear, then a non-torch Linear"),  # string"; no _forward_hooks
], ids=["swapped", "two manual"])
def test_assert_module_matches_takes_the_manual_module_first_and_torchs_second(modules, given):
    with pytest.raises(TypeError, match=rf"^assert_module_matches: expected a manual module, then a torch.nn.Module; "
                                        rf"got {given}$"):
        assert_module_matches(*modules, lambda rng: rng.standard_normal((4, 5)))


# change -> the error and what it says; "torch_momentum" and "torch_half" change the torch side's optimizer and dtype,
# "swap" puts torch's loss or optimizer first, "other_model" builds manual's optimizer on another model
TRAINING_REFUSALS = {
    "steps 0": ({"steps": 0}, ValueError, "^assert_model_trains_like: steps must be at least 1, got 0"),
    "steps -1": ({"steps": -1}, ValueError, "steps must be at least 1, got -1"),
    "steps 2.5": ({"steps": 2.5}, TypeError, "steps must be an integer, got 2.5"),
    "seed -1": ({"seed": -1}, ValueError, "^assert_model_trains_like: " + SEED_RANGE + "-1"),
    "device xpu": ({"device": "xpu"}, ValueError, r"device must be 'cpu' or a CUDA device torch sees \('cuda', "
                                                  r"'cuda:N'\); got 'xpu'"),
    "device cuda:64": ({"device": "cuda:64"}, ValueError, "got 'cuda:64'"),
    "dtype float16": ({"dtype": "float16"}, ValueError, "dtype must be one of"),
    "a float16 torch model": ({"torch_half": True}, ValueError, r"the torch model is in torch\.float16; .*pass dtype="),
    # refused after the dtype was read, before the models are cast to it
    "optimizers differ, dtype given": ({"dtype": "float64", "torch_momentum": 0.8}, AssertionError,
                                       "hyperparameters differ: group 0 momentum: manual 0.9 vs torch 0.8"),
    # were a KeyError of an id, an unpacking error, and a report that blamed the backends for a run never stepped
    "swapped optimizers": ({"swap": "optimizer"}, TypeError, r"\(manual, torch\) pairs, manual's first; "
                                                             r"optimizer\[0\] is torch's SGD"),
    "swapped losses": ({"swap": "loss"}, TypeError, r"manual's first; loss\[0\] is torch's CrossEntropyLoss"),
    "a loss alone": ({"loss": (mnn.CrossEntropyLoss(),)}, TypeError, r"loss must be a \(manual, torch\) pair, got"),
    "an optimizer of another model": ({"other_model": True}, ValueError, "the manual optimizer holds 4 of its 4 "
                                      "parameters outside the manual model; build it on that model's parameters"),
    "batches that are no pairs": ({"batches": [np.ones((8, 4))] * 3}, TypeError,
                                  r"batches must give \(x, y\) pairs; batch 0 is a ndarray of shape \(8, 4\)"),
}


def batches(rng):
    return rng.standard_normal((8, 4)), rng.integers(0, 3, 8)


@pytest.mark.parametrize("change, error, message", TRAINING_REFUSALS.values(), ids=TRAINING_REFUSALS)
def test_assert_model_trains_like_refuses_arguments_that_cannot_mean_a_run_and_changes_nothing(change, error, message):
    options = {"steps": 3, **change}
    manual_model = mnn.Sequential(mnn.Linear(4, 6), mnn.Tanh(), mnn.Linear(6, 3))
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    if options.pop("torch_half", False):
        torch_model.half()
    optimized = mnn.Sequential(mnn.Linear(4, 6), mnn.Linear(6, 3)) if options.pop("other_model", False) else manual_model
    optimizers = (manual.optim.SGD(optimized.parameters(), lr=0.1, momentum=0.9),
                  torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=options.pop("torch_momentum", 0.9)))
    pairs = {"loss": (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()), "optimizer": optimizers}
    swapped = options.pop("swap", None)
    if swapped:
        pairs[swapped] = pairs[swapped][::-1]
    manual_before = {key: value.copy() for key, value in manual_model.state_dict().items()}
    torch_before = {key: value.clone() for key, value in torch_model.state_dict().items()}
    with pytest.raises(error, match=message):
        assert_model_trains_like(manual_model, torch_model, **{**pairs, "batches": batches, **options})
    for key, value in manual_model.state_dict().items():
        assert value.dtype == manual_before[key].dtype and np.array_equal(value, manual_before[key]), key
    for key, value in torch_model.state_dict().items():
        assert value.dtype == torch_before[key].dtype and torch.equal(value, torch_before[key]), key
    assert not optimizers[0].state and not optimizers[1].state
    assert all(param.grad is None for param in manual_model.parameters())


@pytest.mark.parametrize("seed, refusal", [
    ("-1", "expected an integer in [0, 2**64 - 1], got '-1'"),
    (str(2 ** 64), "expected an integer in [0, 2**64 - 1], got '18446744073709551616'"),
    ("seven", "expected an integer, got 'seven'"),
    (str(2 ** 64 - 1), None),  # the largest torch.manual_seed takes
])
def test_a_crosscheck_seed_no_generator_takes_is_a_usage_error(pytester, seed, refusal):
    pytester.makepyfile(test_seed="def test_seed(crosscheck, rng):\n    assert crosscheck.seed == rng.bit_generator."
                                  "seed_seq.entropy\n")
    result = pytester.runpytest("-p", "compare.pytest_plugin", "--crosscheck-seed", seed)
    if refusal is None:
        result.assert_outcomes(passed=1)
        return
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(rf"argument --crosscheck-seed: {re.escape(refusal)}$", result.stderr.str(), re.MULTILINE)


TRAINING = next(case for case in training_cases.CATALOGUE if case.name == "linreg-mse-sgd")
MODULE = registry.ModuleCase("user-linear", ("Linear", {"in_features": 5, "out_features": 3}), registry.normal(4, 5))
# a case -> what register_case says after "register_case('<name>'): "
CASE_REFUSALS = {
    "steps 0": ({"steps": 0}, "steps must be an integer of at least 1, got 0"),  # was a ZeroDivisionError in the report
    "steps 2.5": ({"steps": 2.5}, "steps must be an integer of at least 1, got 2.5"),
    "eval_steps -1": ({"eval_steps": -1}, "eval_steps must be an integer of at least 0, got -1"),
    "no dtype": ({"dtypes": ()}, r"dtypes must be a tuple of one or more of \('float32', 'float64'\), got \(\)"),
    "float16": ({"dtypes": ("float16",)}, r"dtypes must be .*, got \('float16',\)"),
    "no batches": ({"data": None}, "data must be a batch stream .*got None"),
    "a bare optimizer name": ({"optimizer": "SGD"}, "optimizer must be a \\(class name, keyword arguments\\) pair, got 'SGD'"),
    "no name, no steps": ({"name": " ", "steps": 0}, "name must be a non-empty string, got ' '; steps must be"),
    "a module spec without kwargs": ({"module": ("Linear",)}, r"module must be .* pair, got \('Linear',\)"),
    "an array as input": ({"input": np.ones((4, 5))}, "input must be a function of a NumPy generator"),
    "fd_eps 0": ({"fd_eps": 0.0}, "fd_eps .* must be a finite number above 0, got 0.0"),
}


@pytest.mark.parametrize("change, message", CASE_REFUSALS.values(), ids=CASE_REFUSALS)
def test_the_registry_refuses_a_case_that_cannot_mean_a_check_and_keeps_nothing(change, message):
    base = MODULE if "module" in change or "input" in change or "fd_eps" in change else TRAINING
    case = dataclasses.replace(base, **{"name": "user-case", **change})
    with registry.isolated():
        with pytest.raises(ValueError, match=rf"^register_case\({re.escape(repr(case.name))}\): {message}"):
            registry.register_case(case)
        assert registry.module_cases() == registry.training_cases() == []


def test_every_built_in_case_is_one_the_registry_would_take():
    cases = [(kind, case) for kind, case in selection.catalogue(kinds=("training", "module"))]
    assert len(cases) == len(training_cases.CATALOGUE) + len(module_cases.MODULE_CASES)
    for kind, case in cases:
        assert registry._case_problems(kind, case) == [], case.name


@pytest.mark.parametrize("name, error", [("", ValueError), ("  ", ValueError), (None, TypeError), (3, TypeError)])
def test_a_class_is_registered_under_a_name_cases_can_write(name, error):
    with registry.isolated():
        with pytest.raises(error, match=rf"^register_module\({re.escape(repr(name))}\): the name"):
            registry.register_module(name, mnn.Tanh, torch.nn.Tanh)
        assert registry.module_classes(name) is None


def test_a_torch_model_without_parameters_is_refused_as_one():
    """It was a StopIteration: the dtype is read from the first parameter."""
    manual_model, elsewhere = mnn.Sequential(mnn.ReLU()), torch.nn.Linear(4, 3)
    optimizers = (manual.optim.SGD(mnn.Linear(4, 3).parameters(), lr=0.1), torch.optim.SGD(elsewhere.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="^assert_model_trains_like: the torch model has no parameters: there is "
                                         "nothing to train$"):
        assert_model_trains_like(manual_model, torch.nn.Sequential(torch.nn.ReLU()),
                                 (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()), optimizers, batches, 2)
