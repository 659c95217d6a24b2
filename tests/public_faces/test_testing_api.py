"""compare.testing, compare.registry and the pytest plugin, used as a user outside the repository would."""
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tomllib
import torch

import manual.models
import manual.nn as mnn
import manual.optim
import torch_ref.models
from compare import registry
from compare.catalogue import module_cases, training_cases
from compare.catalogue.case_types import Case, ModuleCase
from compare.catalogue.inputs import normal
from compare.checks.module_check import check_module_case
from compare.engine.step_loop import run_case
from compare.testing import assert_model_trains_like, assert_module_matches

pytest_plugins = ["pytester"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "user_layer"


class TanhMissingSquare(mnn.Tanh):
    """A wrong backward a user could write: 1 - y instead of 1 - y²."""

    def backward(self, grad_output):
        super().backward(grad_output)
        return grad_output * (1 - self._last_output)

    def forward(self, input):
        self._last_output = super().forward(input)
        return self._last_output


class LinearHalfWeightGrad(mnn.Linear):
    """Right dL/dx, but dL/dW halved."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.weight.grad *= 0.5
        return grad_input


def inputs_4x5(rng):
    return rng.standard_normal((4, 5))


# -- assert_module_matches ----------------------------------------------------------------------------------
def test_builtin_layer_matches_in_both_dtypes_and_the_instances_are_left_alone():
    manual_layer, torch_layer = mnn.Linear(5, 3), torch.nn.Linear(5, 3)
    weight_before = manual_layer.weight.data.copy()
    results = assert_module_matches(manual_layer, torch_layer, inputs_4x5)
    assert set(results) == {"float32", "float64"}
    assert [c.name for c in results["float64"]] == ["output", "grad.input", "grad.weight", "grad.bias"]
    np.testing.assert_array_equal(manual_layer.weight.data, weight_before)  # torch's weights went into a copy
    assert manual_layer.weight.grad is None and torch_layer.weight.grad is None


def test_a_loss_takes_its_target_without_a_gradient():
    results = assert_module_matches(mnn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1),
                                    lambda rng: rng.standard_normal((6, 4)), target=lambda rng: rng.integers(0, 4, 6))
    assert [c.name for c in results["float32"]] == ["output", "grad.input"]


def test_train_mode_shares_dropout_masks_and_batchnorm_buffers_are_compared():
    def build(nn):
        # no bias before BatchNorm: its gradient is 0 up to rounding residue, which no tolerance can judge
        return nn.Sequential(nn.Linear(4, 6, bias=False), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.3))
    results = assert_module_matches(build(mnn), build(torch.nn), lambda rng: rng.standard_normal((8, 4)))
    names = [c.name for c in results["float64"]]
    assert "buffer.1.running_var" in names and "grad.1.weight" in names


def test_a_wrong_input_gradient_fails_naming_step_tensor_index_and_both_values():
    with pytest.raises(AssertionError) as raised:
        assert_module_matches(TanhMissingSquare(), torch.nn.Tanh(), inputs_4x5)
    message = str(raised.value)
    for fragment in ("TanhMissingSquare() vs torch Tanh [float32]", "[float64]", "first and worst: step 0, grad.input[",
                     "manual ", " vs torch ", "finite differences", "worst at input"):
        assert fragment in message, message
    assert "output" not in message.split("first and worst:")[1].split("\n")[0]  # the forward is right: grad.input fails first


def test_a_wrong_parameter_gradient_is_named():
    with pytest.raises(AssertionError, match=r"first and worst: step 0, grad\.weight\[") as raised:
        assert_module_matches(LinearHalfWeightGrad(5, 3), torch.nn.Linear(5, 3), inputs_4x5, dtypes=("float64",))
    assert "grad.input" not in str(raised.value) and "grad.bias" not in str(raised.value)


def test_mismatched_state_dict_keys_say_which():
    with pytest.raises(RuntimeError, match="Unexpected key"):
        assert_module_matches(mnn.Linear(5, 3, bias=False), torch.nn.Linear(5, 3), inputs_4x5)


# -- assert_model_trains_like --------------------------------------------------------------------------------
def mlp_pair(dtype):
    kwargs = {"in_features": 4, "hidden": [6], "out_features": 3, "activation": "tanh"}
    torch.manual_seed(0)
    torch_model = torch_ref.models.MLP(**kwargs, dtype={"float32": torch.float32, "float64": torch.float64}[dtype])
    return manual.models.MLP(**kwargs, dtype=dtype), torch_model


def classification_batch(rng):
    x = rng.standard_normal((16, 4))
    return x, (x @ np.array([[1.0, -1, 0], [0, 1, -1], [1, 0, 1], [-1, 1, 0]])).argmax(axis=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_user_built_models_train_alike(dtype):
    manual_model, torch_model = mlp_pair(dtype)
    optimizers = (manual.optim.Adam(manual_model.parameters(), lr=0.01),
                  torch.optim.Adam(torch_model.parameters(), lr=0.01))
    result = assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                      optimizers, classification_batch, steps=10)
    assert result.steps == 10 and result.dtype == dtype and result.worst_rel("param.") > 0  # compared, not skipped


def test_too_few_batches_say_so():
    manual_model, torch_model = mlp_pair("float64")
    optimizers = (manual.optim.SGD(manual_model.parameters(), lr=0.1), torch.optim.SGD(torch_model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="batches ran out after 2 of 3 steps"):
        assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                 optimizers, [classification_batch(np.random.default_rng(i)) for i in range(2)], 3)


def test_batches_drawn_from_torchs_random_state_do_not_depend_on_what_came_before():
    """torch is seeded with `seed` before the first batch is drawn (a check draws it before any cast, to refuse one
    that is no pair), so batches made with torch's generator come out the same whatever drew from it before."""
    drawn = []

    def from_torch(rng):
        x = torch.randn(16, 4, dtype=torch.float64).numpy()
        drawn.append(x)
        return x, rng.integers(0, 3, 16)

    for before in (1, 2):
        manual_model, torch_model = mlp_pair("float64")
        optimizers = (manual.optim.SGD(manual_model.parameters(), lr=0.1),
                      torch.optim.SGD(torch_model.parameters(), lr=0.1))
        torch.manual_seed(before)  # what drew from torch's generator before the call
        assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                 optimizers, from_torch, 2)
    assert np.array_equal(drawn[0], drawn[2]) and np.array_equal(drawn[1], drawn[3])


def test_optimizers_built_with_different_settings_fail_before_the_first_step():
    manual_model, torch_model = mlp_pair("float32")
    optimizers = (manual.optim.SGD(manual_model.parameters(), lr=0.1, momentum=0.9),
                  torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=0.8))
    with pytest.raises(AssertionError, match=r"hyperparameters differ: group 0 momentum: manual 0.9 vs torch 0.8$"):
        assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                 optimizers, classification_batch, 3)


def test_optimizers_differing_only_in_implementation_flags_train_alike():
    """foreach/fused choose torch's code path, not a number: torch's multi-tensor Adam against manual's Adam."""
    manual_model, torch_model = mlp_pair("float64")
    optimizers = (manual.optim.Adam(manual_model.parameters(), lr=0.01),
                  torch.optim.Adam(torch_model.parameters(), lr=0.01, foreach=True, fused=False))
    result = assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                      optimizers, classification_batch, 3)
    assert result.steps == 3


class MomentumIgnoringSGD(manual.optim.SGD):
    """A wrong update rule a user could write: plain SGD steps, the momentum buffer kept but never applied."""

    def update(self, param, state, group):
        state["momentum_buffer"] = param.grad.copy()
        param.data -= group["lr"] * param.grad


def test_a_wrong_update_rule_fails_at_the_step_it_first_shows_naming_the_parameter():
    manual_model, torch_model = mlp_pair("float64")
    optimizers = (MomentumIgnoringSGD(manual_model.parameters(), lr=0.1, momentum=0.9),
                  torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=0.9))
    # the first momentum buffer is the gradient itself: step 0 agrees, step 1 does not
    with pytest.raises(AssertionError, match=r"first: step 1, param\.0\.weight\[") as raised:
        assert_model_trains_like(manual_model, torch_model, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                 optimizers, [classification_batch(np.random.default_rng(i)) for i in range(3)], 3)
    assert re.search(r"\n  worst: step [12], [\w.]+\[\d+(, \d+)?\]: manual \S+ vs torch \S+", str(raised.value))


# -- registry --------------------------------------------------------------------------------------------------
class ManualTanhModel(mnn.Sequential):
    """A user model: Linear then Tanh (built as the registry calls models: kwargs plus dtype=)."""

    def __init__(self, in_features, out_features, dtype=None):
        super().__init__(mnn.Linear(in_features, out_features, dtype=dtype), mnn.Tanh())


class TorchTanhModel(torch.nn.Sequential):
    def __init__(self, in_features, out_features, device=None, dtype=None):
        super().__init__(torch.nn.Linear(in_features, out_features, device=device, dtype=dtype), torch.nn.Tanh())


def test_registered_module_and_case_join_the_module_catalogue():
    with registry.isolated():
        registry.register_module("TanhModel", ManualTanhModel, TorchTanhModel)
        registry.register_case(ModuleCase("user-tanh-model", ("TanhModel", {"in_features": 5, "out_features": 3}),
                                          normal(4, 5)))
        (case,) = module_cases.select("user-tanh")
        for dtype in ("float32", "float64"):
            assert all(c.passed for c in check_module_case(case, dtype))
    assert module_cases.select("user-tanh") == [] and registry.module_classes("TanhModel") is None


def test_registered_model_optimizer_and_case_join_the_training_catalogue():
    class HalfLrSGD(manual.optim.SGD):  # registered under torch's name: the registry wins over manual.optim
        def __init__(self, params, lr, **kwargs):
            super().__init__(params, lr=lr / 2, **kwargs)

    case = Case("user-tanh-mse-sgd", ("TanhModel", {"in_features": 5, "out_features": 1}), ("MSELoss", {}),
                ("SGD", {"lr": 0.1}), training_cases.REGRESSION, steps=5)
    with registry.isolated():
        registry.register_module("TanhModel", ManualTanhModel, TorchTanhModel)
        registry.register_case(case)
        assert training_cases.select("user-tanh") == [case]
        assert run_case(case, "float64").passed
        registry.register_optimizer("SGD", HalfLrSGD, torch.optim.SGD)
        assert not run_case(case, "float64").passed
    assert training_cases.select("user-tanh") == []


def test_registry_refuses_duplicates():
    with registry.isolated():
        registry.register_module("TanhModel", ManualTanhModel, TorchTanhModel)
        with pytest.raises(ValueError, match="already registered"):
            registry.register_module("TanhModel", mnn.Tanh, TorchTanhModel)
        with pytest.raises(ValueError, match="already in the catalogue"):
            registry.register_case(ModuleCase("relu", ("ReLU", {}), normal(4, 6)))
        with pytest.raises(TypeError, match="expected a compare.catalogue.case_types.ModuleCase or Case"):
            registry.register_case("relu")



REGISTER_FIRST = """
from compare import registry
from compare.catalogue.case_types import ModuleCase
from compare.catalogue.inputs import normal
registry.register_case(ModuleCase("relu", ("ReLU", {}), normal(4, 6)))  # before the built-in catalogue has loaded
try:
    import compare.catalogue.module_cases
except ValueError as error:
    print(error)
"""


def test_a_built_in_name_registered_before_its_catalogue_loads_is_refused_when_it_loads():
    done = subprocess.run([sys.executable, "-c", REGISTER_FIRST], capture_output=True, text=True)
    assert "a case named 'relu' is already in the catalogue" in done.stdout, done.stdout + done.stderr

# -- the pytest plugin, run as a user's project would run it ------------------------------------------------------
WRONG_LAYER = '''
import numpy as np
import torch
import manual.nn as mnn

class Cube(mnn.Module):
    def forward(self, input):
        self.save_for_backward(input)
        return input ** 3

    def backward(self, grad_output):
        (x,) = self.saved_for_backward()
        return grad_output * 3 * x  # should be 3 x²

class TorchCube(torch.nn.Module):
    def forward(self, input):
        return input ** 3
'''


class OneOutput(mnn.Module):
    def forward(self, x):
        self.save_for_backward(x)
        return 2 * x

    def backward(self, grad_output):
        self.saved_for_backward()
        return 2 * grad_output


class TorchTwoOutputs(torch.nn.Module):
    def forward(self, x):
        return 2 * x, 3 * x


def test_a_module_with_fewer_outputs_than_its_twin_fails_naming_the_missing_one():
    with pytest.raises(AssertionError, match=r"output\.1 \(missing on manual\)"):
        assert_module_matches(OneOutput(), TorchTwoOutputs(), lambda rng: rng.standard_normal((3, 4)))



def run_user_project(pytester, files: dict, *args):
    pytester.makepyfile(**files)
    return pytester.runpytest("-p", "compare.pytest_plugin", *args)


def test_the_example_passes_in_a_project_of_its_own(pytester):
    files = {path.stem: path.read_text() for path in EXAMPLE.glob("*.py")}
    code = [line for line in (EXAMPLE / "test_swish.py").read_text().splitlines() if line.strip()]
    assert len(code) == 3, code  # import, def, call: the three lines the README shows
    run_user_project(pytester, files, "-v").assert_outcomes(passed=1)


def test_a_wrong_user_layer_fails_naming_step_tensor_index_and_values(pytester):
    result = run_user_project(pytester, {"cube": WRONG_LAYER, "test_cube": (
        "from cube import Cube, TorchCube\n\n"
        "def test_cube(crosscheck):\n"
        "    crosscheck.module_matches(Cube(), TorchCube(), lambda rng: rng.standard_normal((3, 4)))\n")})
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: Cube() vs torch TorchCube [[]float32[]]: * of 2 compared tensors*",
                                 "*first and worst: step 0, grad.input[[]*]: manual * vs torch *"])
    result.stdout.no_fnmatch_line("*arguments64 = _draw(*")  # __tracebackhide__: not the helpers' source


def test_dtype_and_seed_options_reach_the_fixtures(pytester):
    result = run_user_project(pytester, {"test_options": (
        "def test_options(crosscheck, rng):\n"
        "    assert crosscheck.dtypes == ('float64',) and crosscheck.seed == 7\n"
        "    assert rng.integers(1 << 30) == __import__('numpy').random.default_rng(7).integers(1 << 30)\n")},
        "--crosscheck-dtype", "float64", "--crosscheck-seed", "7")
    result.assert_outcomes(passed=1)


def test_a_user_model_trains_like_its_torch_twin_through_the_fixture(pytester):
    result = run_user_project(pytester, {"test_model": (
        "import manual, torch\n"
        "def test_model(crosscheck):\n"
        "    m = manual.nn.Sequential(manual.nn.Linear(4, 8), manual.nn.ReLU(), manual.nn.Linear(8, 3))\n"
        "    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))\n"
        "    crosscheck.model_trains_like(\n"
        "        m, t, loss=(manual.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),\n"
        "        optimizer=(manual.optim.Adam(m.parameters(), lr=1e-2), torch.optim.Adam(t.parameters(), lr=1e-2)),\n"
        "        batches=lambda rng: (rng.standard_normal((16, 4)), rng.integers(0, 3, 16)), steps=20)\n")})
    result.assert_outcomes(passed=1)


def test_the_plugin_is_registered_under_its_module_name():
    """Named as the module, the installed entry point and `-p compare.pytest_plugin` are one plugin, not two."""
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert entry_points == {"compare.pytest_plugin": "compare.pytest_plugin"}
