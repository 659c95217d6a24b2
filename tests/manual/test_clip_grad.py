"""manual.nn.utils.clip_grad_norm_ / clip_grad_value_ vs torch.nn.utils: clipped gradients and the returned norm."""
import math

import numpy as np
import pytest
import torch

import manual.nn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import update_rule_tolerance_for

SHAPES = [(3, 4), (5,), (2, 2)]
NORM_CASES = [
    {"max_norm": 1.0},  # clips: the total 2-norm of these gradients is ~5
    {"max_norm": 100.0},  # does not clip (the coefficient is clamped to 1)
    {"max_norm": 0.5, "norm_type": 1},
    {"max_norm": 0.5, "norm_type": 3.5},
    {"max_norm": 0.5, "norm_type": math.inf},
    {"max_norm": 0.5, "norm_type": 0},  # counts the non-zero entries
]


def parameters(dtype, with_none=True, scale=1.0):
    """(manual, torch) parameter lists with the same gradients; the last one has no gradient."""
    rng = np.random.default_rng(0)
    manual_params, torch_params = [], []
    for i, shape in enumerate(SHAPES):
        m = manual.nn.Parameter(np.zeros(shape, dtype))
        t = torch.nn.Parameter(torch.zeros(shape, dtype=getattr(torch, dtype)))
        if not (with_none and i == len(SHAPES) - 1):
            grad = (scale * rng.standard_normal(shape)).astype(dtype)
            m.grad, t.grad = grad.copy(), torch.from_numpy(grad.copy())
        manual_params.append(m)
        torch_params.append(t)
    return manual_params, torch_params


def assert_same_grads(manual_params, torch_params, dtype):
    for i, (m, t) in enumerate(zip(manual_params, torch_params, strict=True)):
        assert (m.grad is None) == (t.grad is None), i
        if m.grad is not None:
            assert m.grad.dtype == np.dtype(dtype)
            error = compare_arrays(0, f"grad{i}", m.grad, t.grad.numpy(), update_rule_tolerance_for(dtype))
            assert error.passed, error.describe()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", NORM_CASES, ids=str)
def test_clip_grad_norm_matches_torch(kwargs, dtype):
    manual_params, torch_params = parameters(dtype)
    manual_norm = manual.nn.utils.clip_grad_norm_(manual_params, **kwargs)
    torch_norm = torch.nn.utils.clip_grad_norm_(torch_params, **kwargs)
    assert manual_norm.shape == () and manual_norm.dtype == np.dtype(dtype)
    assert compare_arrays(0, "total_norm", manual_norm, torch_norm.numpy(), update_rule_tolerance_for(dtype)).passed
    assert_same_grads(manual_params, torch_params, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clip_value", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value, dtype):
    manual_params, torch_params = parameters(dtype)
    assert manual.nn.utils.clip_grad_value_(manual_params, clip_value) is None
    torch.nn.utils.clip_grad_value_(torch_params, clip_value)
    assert_same_grads(manual_params, torch_params, dtype)


def test_clipping_keeps_the_direction_and_reaches_max_norm():
    manual_params, _ = parameters("float64", with_none=False)
    before = np.concatenate([p.grad.ravel() for p in manual_params])
    total = manual.nn.utils.clip_grad_norm_(manual_params, max_norm=1.0)
    after = np.concatenate([p.grad.ravel() for p in manual_params])
    assert total == pytest.approx(np.linalg.norm(before), rel=1e-15)
    assert np.linalg.norm(after) == pytest.approx(1.0 / (1 + 1e-6 / float(total)), rel=1e-15)
    np.testing.assert_allclose(after * float(total), before, rtol=1e-6)


def test_non_finite_norm_raises_when_asked_and_propagates_otherwise():
    manual_params, torch_params = parameters("float64")
    manual_params[0].grad[0, 0] = np.inf
    torch_params[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        manual.nn.utils.clip_grad_norm_(manual_params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(torch_params, 1.0, error_if_nonfinite=True)
    total = manual.nn.utils.clip_grad_norm_(manual_params, 1.0)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, 1.0)
    assert np.isinf(total) and torch.isinf(torch_total)
    for m, t in zip(manual_params, torch_params, strict=True):  # grad·(1/inf): 0 where finite, NaN at the inf, as torch
        if m.grad is not None:
            np.testing.assert_array_equal(m.grad, t.grad.numpy())


def test_no_gradients_gives_zero_and_a_single_parameter_is_accepted():
    assert manual.nn.utils.clip_grad_norm_([manual.nn.Parameter(np.zeros(2))], 1.0) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        manual.nn.utils.clip_grad_norm_((p for p in []), 1.0)
    param = manual.nn.Parameter(np.zeros(2))
    param.grad = np.array([3.0, 4.0])
    assert manual.nn.utils.clip_grad_norm_(param, 1.0) == 5.0
