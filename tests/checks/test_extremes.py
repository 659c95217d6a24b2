"""Extreme inputs (compare/catalogue/extreme_cases.py): finite wherever torch is, and equal to torch within the tolerances."""
import copy

import numpy as np
import pytest
import torch

from compare.catalogue.extreme_cases import EXTREME_MODULE_CASES, EXTREME_OPTIMIZER_CASES, TINY_VARIANCE_CASES
from compare.checks.main_job import tiny_variance_float32
from compare.checks.module_check import build_pair, check_module_case, make_inputs
from compare.checks.update_rule import run_update_rule
from compare.engine.comparison import compare_arrays
from compare.engine.kernels import torch_fuses_multiply_add
from compare.engine.tolerances import tolerance_for
from manual.nn.functional import ZERO_ROW, relu, relu_backward

DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EXTREME_MODULE_CASES, ids=lambda case: case.name)
def test_extreme_inputs_match_torch_and_stay_finite(case, dtype):
    errors = check_module_case(case, dtype)  # NaN/Inf in a manual output or gradient fails (case.finite)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{case.name} [{dtype}]: " + "; ".join(failing)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, gradient", EXTREME_OPTIMIZER_CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}-{g.__name__}"
                              for n, kw, g in EXTREME_OPTIMIZER_CASES])
def test_huge_gradients_into_every_optimizer(name, kwargs, gradient, dtype):
    if dtype == "float32" and not torch_fuses_multiply_add():
        pytest.skip("free-running float32 updates of 1e10-sized gradients match torch only rounding for rounding: "
                    "manual emulates the fused multiply-add of torch's vectorised kernels, and these (baseline) "
                    "kernels round twice, so the trajectories part by cancellation residues over the steps; the "
                    "float64 runs and the fused-op test (within one rounding here) still check the rule")
    errors = run_update_rule(name, kwargs, dtype, steps=50, gradient=gradient)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{name} {kwargs} [{dtype}, {gradient.__name__}]: " + "; ".join(failing[:3])


@pytest.mark.parametrize("case", TINY_VARIANCE_CASES, ids=lambda case: case.name)
def test_tiny_variance_batchnorm_matches_torch_in_float64(case):
    errors = check_module_case(case, "float64")
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{case.name} [float64]: " + "; ".join(failing)


@pytest.mark.parametrize("case", TINY_VARIANCE_CASES, ids=lambda case: case.name)
def test_tiny_variance_batchnorm_is_float32_accurate_where_torch_loses_digits(case):
    """float32 against the exact result (the main job's check, compare/checks/main_job.py), while torch's own float32
    output is not: the reason the case is not among EXTREME_MODULE_CASES."""
    failing = [e.describe() for e in tiny_variance_float32(case) if not e.passed]
    assert not failing, f"{case.name}: manual float32 vs the exact result: " + "; ".join(failing)
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        return  # the loss of digits below is in torch's vectorised float32 kernels; its baseline kernels keep them
    torch32, _ = build_pair(case, "float32")
    x, _ = make_inputs(case, "float32")
    torch64 = copy.deepcopy(torch32).double()
    with torch.no_grad():
        exact, torch_output = torch64(torch.from_numpy(x.astype(np.float64))), torch32(torch.from_numpy(x))
    torch_error = compare_arrays(0, "output", torch_output.numpy(), exact.numpy(), tolerance_for("float32"))
    assert not torch_error.passed, (f"{case.name}: torch's float32 output is now accurate ({torch_error.describe()}): "
                                    "move the case to EXTREME_MODULE_CASES")


NAN, INF = np.nan, np.inf


@pytest.mark.parametrize("x, grad", [
    ([-1.0, 0.0, 2.0], [INF, -INF, INF]),  # off units take 0, not inf·0 = NaN
    ([-1.0, 0.0, 2.0], [NAN, NAN, NAN]),  # a NaN gradient stops at an off unit too
    ([NAN, -1.0, 2.0], [5.0, -3.0, 7.0]),  # a NaN unit is not "<= 0", so it passes its gradient
    ([NAN, -1.0, 2.0], [INF, INF, -INF]),
], ids=["inf-upstream", "nan-upstream", "nan-unit", "nan-unit-inf-upstream"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["three", "rows", "strided"])
def test_relu_selects_as_torch_with_non_finite_values(x, grad, dtype, layout):
    """Three values; tiled to 3·ZERO_ROW, where relu takes rows against a row of zeros and the finiteness test its
    dot product; and as a strided view, where both take their general way."""
    x, grad = np.array(x, dtype=dtype), np.array(grad, dtype=dtype)
    if layout == "rows":
        x, grad = np.tile(x, ZERO_ROW), np.tile(grad, ZERO_ROW)
    elif layout == "strided":
        x, grad = np.repeat(x, 2)[::2], np.repeat(grad, 2)[::2]
    x_t = torch.from_numpy(x.copy()).requires_grad_(True)
    y_t = torch.relu(x_t)
    y_t.backward(torch.from_numpy(grad.copy()))
    y = relu(x)
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    manual = relu_backward(grad, y)
    assert y.dtype == manual.dtype == dtype
    np.testing.assert_array_equal(manual, x_t.grad.numpy())
