"""What a torch user reaches for first: module.to(dtype) / .double() / .float(), weights moved either way, MLP with
one hidden width as an int, and the fixture's --crosscheck-dtype reaching model_trains_like."""
import numpy as np
import pytest
import torch

import manual.models
import manual.nn as mnn
import manual.optim
import torch_ref.models
from compare.testing import assert_model_trains_like, assert_module_matches, torch_state_dict

pytest_plugins = ["pytester"]


def bn_net():
    return mnn.Sequential(mnn.Linear(3, 4), mnn.BatchNorm1d(4), mnn.ReLU(), mnn.Linear(4, 2))


@pytest.mark.parametrize("how", ["float64", np.float64, np.dtype("float64"), "double", torch.float64, "double()"])
def test_to_casts_parameters_gradients_and_float_buffers_and_returns_self(how):
    net = bn_net()
    net(np.ones((5, 3), np.float32))
    net.backward(np.ones((5, 2), np.float32))
    weight = net[0].weight
    assert (net.double() if how == "double()" else net.to(how)) is net
    assert net[0].weight is weight  # the same Parameter: an optimizer built on it keeps it
    assert {p.data.dtype for p in net.parameters()} == {p.grad.dtype for p in net.parameters()} == {np.dtype("float64")}
    assert net[1].running_var.dtype == np.float64 and net[1].num_batches_tracked.dtype == np.int64
    assert net.float() is net and {p.dtype for p in net.parameters()} == {np.dtype("float32")}
    assert net.to("cpu") is net and net.to(torch.device("cpu"), torch.float64)[3].bias.dtype == np.float64


@pytest.mark.parametrize("bad, error, message", [
    ("cuda", ValueError, r"Sequential\(\)\.to: manual modules run on the CPU \(NumPy\); got device 'cuda'"),
    (torch.device("cuda:0"), ValueError, "got device 'cuda:0'"),
    ("int64", TypeError, "dtype must be float32 or float64"),
    (torch.float16, TypeError, r"got torch\.float16"),
])
def test_to_refuses_other_devices_and_dtypes_and_changes_nothing(bad, error, message):
    net = bn_net()
    with pytest.raises(error, match=message):
        net.to(bad, torch.float64) if error is ValueError else net.to(bad)
    assert {p.dtype for p in net.parameters()} == {np.dtype("float32")}


def test_mlp_takes_one_hidden_width_as_an_int_on_both_sides():
    manual_mlp, torch_mlp = manual.models.MLP(10, 16, 3), torch_ref.models.MLP(10, 16, 3)
    shapes = {key: value.shape for key, value in manual.models.MLP(10, [16], 3).state_dict().items()}
    assert {key: value.shape for key, value in manual_mlp.state_dict().items()} == shapes
    assert {key: tuple(value.shape) for key, value in torch_mlp.state_dict().items()} == shapes


def test_manual_weights_go_into_a_torch_model_in_one_line():
    manual_mlp, torch_mlp = manual.models.MLP(4, [5], 2, dtype="float64"), torch_ref.models.MLP(4, [5], 2)
    torch_mlp.load_state_dict(torch_state_dict(manual_mlp))  # the line README and docs/ADDING_A_LAYER.md show
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(torch_mlp(torch.from_numpy(x).float()).detach().numpy(), manual_mlp(x), rtol=1e-5)
    assert next(torch_mlp.parameters()).dtype == torch.float32  # torch casts to its own parameters' dtype


def training_pair(torch_dtype=torch.float32):
    torch.manual_seed(0)
    manual_mlp, torch_mlp = manual.models.MLP(4, 6, 3), torch_ref.models.MLP(4, 6, 3).to(torch_dtype)
    optimizers = manual.optim.SGD(manual_mlp.parameters(), lr=0.1), torch.optim.SGD(torch_mlp.parameters(), lr=0.1)
    return manual_mlp, torch_mlp, (mnn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()), optimizers


def batches(rng):
    return rng.standard_normal((8, 4)), rng.integers(0, 3, 8)


def test_model_trains_like_casts_the_manual_model_to_the_torch_models_dtype():
    manual_mlp, torch_mlp, losses, optimizers = training_pair(torch.float64)  # the call
    assert_model_trains_like(manual_mlp, torch_mlp, losses, optimizers, batches, steps=3)
    assert {p.dtype for p in manual_mlp.parameters()} == {np.dtype("float64")}


def test_model_trains_like_refuses_a_cast_under_an_optimizer_with_state_saying_how():
    manual_mlp, torch_mlp, losses, (manual_sgd, torch_sgd) = training_pair(torch.float64)
    manual_sgd = manual.optim.SGD(manual_mlp.parameters(), lr=0.1, momentum=0.9)
    manual_mlp(np.ones((2, 4), np.float32))
    manual_mlp.backward(np.ones((2, 3), np.float32))
    manual_sgd.step()
    torch_sgd = torch.optim.SGD(torch_mlp.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"call manual_model\.to\('float64'\) before building the optimizer"):
        assert_model_trains_like(manual_mlp, torch_mlp, losses, (manual_sgd, torch_sgd), batches, steps=1)
    assert {p.dtype for p in manual_mlp.parameters()} == {np.dtype("float32")}


FIXTURE_TEST = """
import manual.models, manual.nn, manual.optim, torch, torch_ref.models

def test_model(crosscheck):
    m, t = manual.models.MLP(4, 6, 3), torch_ref.models.MLP(4, 6, 3)
    results = crosscheck.model_trains_like(
        m, t, loss=(manual.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
        optimizer=(manual.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)),
        batches=lambda rng: (rng.standard_normal((8, 4)), rng.integers(0, 3, 8)), steps=3)
    assert sorted(results) == EXPECTED, sorted(results)
"""


@pytest.mark.parametrize("option, expected", [("float64", ["float64"]), ("both", ["float32", "float64"])])
def test_the_fixtures_model_trains_like_runs_in_the_command_lines_dtypes(pytester, option, expected):
    pytester.makepyfile(test_model=FIXTURE_TEST.replace("EXPECTED", repr(expected)))
    pytester.runpytest("-p", "compare.pytest_plugin", "--crosscheck-dtype", option).assert_outcomes(passed=1)


class LinearOverwritingGrad(mnn.Linear):
    """Right gradients for one backward, but `.grad` assigned instead of accumulated."""

    def backward(self, grad_output):
        (x,) = self.saved_for_backward()
        self.weight.grad, self.bias.grad = grad_output.T @ x, grad_output.sum(0)
        return grad_output @ self.weight.data


def test_a_layer_that_overwrites_grad_fails_saying_so():
    with pytest.raises(AssertionError) as failure:
        assert_module_matches(LinearOverwritingGrad(5, 3), torch.nn.Linear(5, 3), lambda rng: rng.standard_normal((4, 5)))
    message = str(failure.value)
    assert "2 forward and backward calls without zero_grad [float64]: 2 of 2 compared tensors differ" in message
    assert "grad.weight (overwritten by the second backward instead of added to: torch accumulates until " \
           "zero_grad)[" in message
    assert "[float32]" not in message  # one backward alone is right


def test_a_layer_that_accumulates_passes_the_two_rounds():
    assert_module_matches(mnn.Linear(5, 3), torch.nn.Linear(5, 3), lambda rng: rng.standard_normal((4, 5)))
