"""The perceptron on both backends, step by step; it converges on separable data and fails on XOR, where a
small MLP (the harness's twins, step by step) succeeds."""
import itertools

import numpy as np
import pytest
import torch

import manual.models
import manual.optim
import torch_ref.models
from compare.catalogue.case_types import Case
from compare.engine.comparison import compare_arrays
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import TORCH_DTYPES, build_twins, to_numpy

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_SIGNS = np.array([-1.0, 1.0, 1.0, -1.0])


def twin_perceptrons(in_features, dtype, seed=0):
    torch.manual_seed(seed)
    torch_model = torch_ref.models.Perceptron(in_features, dtype=TORCH_DTYPES[dtype])
    manual_model = manual.models.Perceptron(in_features, dtype=dtype)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    return torch_model, manual_model


def separable(n, seed, margin=0.1):
    """n points in [-1, 1]^3 labelled by a fixed hyperplane, none closer to it than `margin`."""
    rng = np.random.default_rng(seed)
    w, b = np.array([1.0, -2.0, 0.5]), 0.3
    X = rng.uniform(-1, 1, (4 * n, 3))
    scores = (X @ w + b) / np.linalg.norm(w)
    keep = np.abs(scores) > margin
    return X[keep][:n], np.where(scores[keep][:n] > 0, 1.0, -1.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_update_rule_matches_step_by_step(dtype, batch_size):
    torch_model, manual_model = twin_perceptrons(3, dtype)
    X, y = separable(64, seed=1, margin=0.0)
    X, y = X.astype(dtype), y.astype(dtype)
    tolerance = tolerance_for(dtype)
    for step, start in enumerate(itertools.islice(itertools.cycle(range(0, 64, batch_size)), 40)):
        x_b, y_b = X[start:start + batch_size], y[start:start + batch_size]
        np.testing.assert_array_equal(manual_model(x_b), to_numpy(torch_model(torch.from_numpy(x_b))),
                                      err_msg=f"predictions, step {step}")
        assert manual_model.update(x_b, y_b, lr=0.3) == torch_model.update(torch.from_numpy(x_b),
                                                                             torch.from_numpy(y_b), lr=0.3)
        for key, value in torch_model.state_dict().items():
            error = compare_arrays(step, key, manual_model.state_dict()[key], to_numpy(value), tolerance)
            assert error.passed, error.describe()


def test_rule_by_hand_and_tie_rule():
    model = manual.models.Perceptron(2, dtype="float64")
    model.load_state_dict({"linear.weight": [[0.0, 0.0]], "linear.bias": [0.0]})
    np.testing.assert_array_equal(model(np.zeros((1, 2))), [1.0])  # score 0 -> +1
    assert model.update(np.array([[2.0, -1.0]]), np.array([-1.0]), lr=0.5) == 1
    np.testing.assert_array_equal(model.linear.weight.data, [[-2.0, 1.0]])  # w += 0.5·(-1 - 1)·x
    np.testing.assert_array_equal(model.linear.bias.data, [-1.0])
    assert model.update(np.array([[2.0, -1.0]]), np.array([-1.0]), lr=0.5) == 0  # correct now: no change
    np.testing.assert_array_equal(model.linear.weight.data, [[-2.0, 1.0]])
    torch_model = torch_ref.models.Perceptron(2, dtype=torch.float64)
    torch.nn.init.zeros_(torch_model.linear.weight)
    torch.nn.init.zeros_(torch_model.linear.bias)
    assert torch_model(torch.zeros(1, 2, dtype=torch.float64)).tolist() == [1.0]


def test_perceptron_refuses_gradients_and_bad_labels():
    model = manual.models.Perceptron(2, dtype="float64")
    with pytest.raises(RuntimeError, match=r"Perceptron\(in_features=2\).*no gradient"):
        model.backward(np.ones(1))
    with pytest.raises(ValueError, match=r"labels must be -1 or \+1"):
        model.update(XOR_X, np.array([0.0, 1.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="labels must be -1 or"):
        torch_ref.models.Perceptron(2, dtype=torch.float64).update(torch.from_numpy(XOR_X), torch.zeros(4))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_perceptron_converges_on_separable_data(dtype):
    torch_model, manual_model = twin_perceptrons(3, dtype)
    X, y = (a.astype(dtype) for a in separable(100, seed=2))
    manual_mistakes = manual_model.fit(X, y, lr=0.1, epochs=200)
    torch_mistakes = torch_model.fit(torch.from_numpy(X), torch.from_numpy(y), lr=0.1, epochs=200)
    assert manual_mistakes == torch_mistakes
    assert manual_mistakes[-1] == 0 and len(manual_mistakes) < 200
    np.testing.assert_array_equal(manual_model(X), y)


def test_perceptron_cannot_learn_xor():
    torch_model, manual_model = twin_perceptrons(2, "float64")
    manual_mistakes = manual_model.fit(XOR_X, XOR_SIGNS, lr=0.1, epochs=100)
    assert manual_mistakes == torch_model.fit(torch.from_numpy(XOR_X), torch.from_numpy(XOR_SIGNS), lr=0.1, epochs=100)
    assert len(manual_mistakes) == 100 and min(manual_mistakes) >= 1  # no epoch without a mistake
    assert (manual_model(XOR_X) == XOR_SIGNS).mean() <= 0.75  # no line separates XOR


XOR_OPTIMIZERS = [(name, kwargs) for name, kwargs in [("SGD", {"lr": 0.5, "momentum": 0.9}), ("Adam", {"lr": 0.05})]
                  if hasattr(manual.optim, name)]


@pytest.mark.parametrize("optimizer", XOR_OPTIMIZERS, ids=lambda o: o[0])
def test_mlp_learns_xor_on_both_backends(optimizer):
    case = Case("xor", ("MLP", {"in_features": 2, "hidden": [8], "out_features": 2, "activation": "tanh"}),
                ("CrossEntropyLoss", {}), optimizer, data=None, steps=300)
    torch_twin, manual_twin = build_twins(case, "float64", "cpu", seed=0)
    labels = (XOR_SIGNS > 0).astype(np.int64)
    result = run_twins(torch_twin, manual_twin, itertools.repeat((XOR_X, labels)), case.steps, "float64", "cpu", "xor")
    assert result.passed, result.first_mismatch.describe()
    np.testing.assert_array_equal(manual_twin.model(XOR_X).argmax(axis=1), labels)
    np.testing.assert_array_equal(torch_twin.model(torch.from_numpy(XOR_X)).argmax(dim=1).numpy(), labels)
