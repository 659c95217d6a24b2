"""manual.summary and torch_ref.summary: equal for twins (compare.checks.inspection), right by hand, traceless."""
import itertools

import numpy as np
import pytest
import torch

import manual
import manual.models
import torch_ref
import torch_ref.models
from compare.catalogue.case_types import Case
from compare.checks.inspection import assert_same_summary, summary_differences
from compare.engine.step_loop import run_twins
from compare.engine.twins import TORCH_DTYPES, build_twins, to_numpy

MODELS = [
    ("LinearRegression", {"in_features": 5}),
    ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
    *[("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": act})
      for act in ("relu", "sigmoid", "tanh")],
    ("MLP", {"in_features": 4, "hidden": [], "out_features": 2}),
    ("Perceptron", {"in_features": 3}),
]
PARAMS = [pytest.param(name, kwargs, dtype, id=f"{name}-{kwargs.get('activation', '')}{kwargs.get('hidden', '')}-{dtype}")
          for name, kwargs in MODELS for dtype in ("float32", "float64")]


def twins(name, kwargs, dtype, seed=0):
    torch.manual_seed(seed)
    torch_model = getattr(torch_ref.models, name)(**kwargs, dtype=TORCH_DTYPES[dtype])
    manual_model = getattr(manual.models, name)(**kwargs, dtype=dtype)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    return torch_model, manual_model


@pytest.mark.parametrize("name, kwargs, dtype", PARAMS)
def test_twin_summaries_are_equal(name, kwargs, dtype):
    torch_model, manual_model = twins(name, kwargs, dtype)
    shape = (5, kwargs["in_features"])
    assert_same_summary(manual_model, torch_model, shape)
    assert str(manual.summary(manual_model, shape)) == str(torch_ref.summary(torch_model, shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_twin_summaries_with_gradients_are_equal(dtype):
    case = Case("s", ("MLP", {"in_features": 4, "hidden": [6], "out_features": 3}), ("CrossEntropyLoss", {}),
                ("SGD", {"lr": 0.1}), data=None)
    torch_twin, manual_twin = build_twins(case, dtype, "cpu", seed=0)
    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((8, 4)).astype(dtype), rng.integers(0, 3, 8))
    run_twins(torch_twin, manual_twin, itertools.repeat(batch), 1, dtype, "cpu")
    summary = manual.summary(manual_twin.model, (8, 4))
    assert all(p.grad_norm is not None and p.grad_norm > 0 for p in summary.parameters)
    assert not summary_differences(summary, torch_ref.summary(torch_twin.model, (8, 4)))


def test_summary_rows_totals_and_statistics_by_hand():
    model = manual.models.MLP(4, [6, 7], 3, dtype="float64")
    summary = manual.summary(model, (2, 4))
    expected = [("", "MLP", (2, 3), 0, None), ("0", "Linear", (2, 6), 30, True), ("1", "ReLU", (2, 6), 0, None),
                ("2", "Linear", (2, 7), 49, True), ("3", "ReLU", (2, 7), 0, None), ("4", "Linear", (2, 3), 24, True)]
    assert [tuple(vars(row).values()) for row in summary.layers] == expected
    assert summary.total_params == summary.trainable_params == 103 == sum(r.num_params for r in summary.layers)
    weight = np.arange(24.0).reshape(6, 4) - 5.0
    model[0].weight.data[...] = weight
    model[0].weight.grad = np.full((6, 4), 0.5)
    stats = manual.summary(model, (2, 4)).parameters[0]
    assert (stats.name, stats.shape, stats.dtype) == ("0.weight", (6, 4), "float64")
    assert (stats.mean, stats.min, stats.max) == (6.5, -5.0, 18.0)
    assert stats.std == pytest.approx(np.sqrt((24 ** 2 - 1) / 12), rel=1e-15)  # population std of 24 steps of 1
    assert stats.grad_norm == pytest.approx(0.5 * np.sqrt(24), rel=1e-15)
    text = str(summary)
    assert "total params: 103  trainable: 103  non-trainable: 0" in text and "grad norm" in text


def test_summary_leaves_no_trace():
    """Training flags and saved-for-backward state survive, so summary may sit between forward and backward."""
    model = manual.models.MLP(4, [6], 3, dtype="float64")
    model[1].eval()
    x = np.random.default_rng(0).standard_normal((5, 4))
    grad = np.ones((5, 3))
    model(x)
    manual.summary(model, (2, 4))
    grad_input = model.backward(grad)
    assert [m.training for m in model.modules()] == [True, True, False, True]
    assert all("forward" not in m.__dict__ for m in model.modules())
    fresh = manual.models.MLP(4, [6], 3, dtype="float64")
    fresh.load_state_dict(model.state_dict())
    fresh(x)
    np.testing.assert_array_equal(grad_input, fresh.backward(grad))

    torch_model = torch_ref.models.MLP(4, [6], 3)
    torch_model[1].eval()
    torch_ref.summary(torch_model, (2, 4))
    assert [m.training for m in torch_model.modules()] == [True, True, False, True]
    assert all(not m._forward_hooks for m in torch_model.modules())


def test_check_reports_every_kind_of_difference():
    torch_model, manual_model = twins("MLP", {"in_features": 4, "hidden": [6], "out_features": 3}, "float64")
    with torch.no_grad():
        torch_model[0].weight[0, 0] += 1e-6
    problems = summary_differences(manual.summary(manual_model, (2, 4)), torch_ref.summary(torch_model, (2, 4)))
    assert any(p.startswith("0.weight.mean") for p in problems), problems
    assert not any(p.startswith("0.bias") for p in problems), problems

    manual_model[0].weight.grad = np.zeros((6, 4))
    problems = summary_differences(manual.summary(manual_model, (2, 4)), torch_ref.summary(torch_model, (2, 4)))
    assert any("0.weight.grad_norm" in p and "one side only" in p for p in problems), problems

    other = torch_ref.models.MLP(4, [5], 3, dtype=torch.float64)
    with pytest.raises(AssertionError, match=r"(?s)total_params.*layer row 1.*'Linear', \(2, 6\).*'Linear', \(2, 5\)"):
        assert_same_summary(manual_model, other, (2, 4))
