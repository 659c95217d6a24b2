"""Optimizer paths on the quadratic bowl and Rosenbrock: manual (hand-derived gradient) vs torch (autograd), from
the same start. float64 paths are compared whole, free-running; float32 paths step by step from torch's point and
optimizer state, as the harness does (a float32 path through Rosenbrock's valley amplifies one-ulp differences in
the gradient: RMSProp's free-running float32 paths part by 7e-3 after 500 steps while its float64 paths agree within
5e-16)."""
import numpy as np
import pytest
import torch

import manual.nn
import manual.optim
from compare.checks.optimizer_paths import PATH_OPTIMIZERS, SURFACES, manual_path, torch_path
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import update_rule_tolerance_for
from compare.engine.twins import to_numpy

PATHS = [(surface, label) for surface in SURFACES for label in PATH_OPTIMIZERS[surface]]


@pytest.mark.parametrize("surface, label", PATHS, ids=[f"{s}-{o}" for s, o in PATHS])
def test_float64_paths_are_equal(surface, label):
    spec = SURFACES[surface]
    points, reference = manual_path(surface, label), torch_path(surface, label)
    assert points.shape == (spec.steps + 1, 2) and points.dtype == np.float64
    np.testing.assert_array_equal(points[0], spec.start)
    error = compare_arrays(0, "path", points, reference, update_rule_tolerance_for("float64"))
    assert error.passed, f"{label} on {surface}: {error.describe()} (index = [step, coordinate])"
    assert spec.value(*points[-1]) < spec.value(*points[0]) / 2, f"{label} makes no progress on {surface}"


@pytest.mark.parametrize("surface, label", PATHS, ids=[f"{s}-{o}" for s, o in PATHS])
def test_float32_path_steps_from_torchs_state(surface, label):
    spec = SURFACES[surface]
    name, kwargs = PATH_OPTIMIZERS[surface][label]
    point = torch.nn.Parameter(torch.tensor(spec.start, dtype=torch.float32))
    torch_opt = getattr(torch.optim, name)([point], **kwargs)
    manual_point = manual.nn.Parameter(np.zeros(2, np.float32))
    manual_opt = getattr(manual.optim, name)([manual_point], **kwargs)
    tolerance = update_rule_tolerance_for("float32")
    for step in range(spec.steps):
        manual_point.data[...] = point.detach().numpy()
        manual_opt.load_state_dict(to_numpy(torch_opt.state_dict()))
        manual_point.grad = np.array(spec.gradient(*manual_point.data), dtype=np.float32)
        manual_opt.step()
        torch_opt.zero_grad()
        spec.value(point[0], point[1]).backward()
        torch_opt.step()
        error = compare_arrays(step, "point", manual_point.data, point.detach().numpy(), tolerance)
        assert error.passed, f"{label} on {surface}: {error.describe()}"


def test_float32_path_is_a_plain_float32_array():
    points = manual_path("quadratic_bowl", "Adam", steps=3, dtype="float32")
    assert type(points) is np.ndarray and points.shape == (4, 2) and points.dtype == np.float32
