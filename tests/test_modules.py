"""Every module and loss of the module catalogue, three ways: finite differences, torch float64, torch float32."""
import numpy as np
import pytest

import manual.nn as mnn
from compare import module_cases
from compare.module_check import build_pair, check_module_case, make_inputs
from compare.tolerances import GRADCHECK_TOLERANCE
from manual import gradcheck


def fix_dropout_masks(module, seed: int = 0) -> None:
    """Finite differences need a deterministic function: every Dropout keeps one mask for all forwards."""
    rng = np.random.default_rng(seed)
    for layer in module.modules():
        if isinstance(layer, mnn.Dropout):
            masks = {}
            layer.mask_provider = lambda shape, p=layer.p, masks=masks: masks.setdefault(tuple(shape),
                                                                                         rng.random(shape) >= p)


@pytest.mark.parametrize("case", [c for c in module_cases.MODULE_CASES if c.gradcheck], ids=lambda c: c.name)
def test_backward_matches_finite_differences(case):
    _, module = build_pair(case, "float64")
    fix_dropout_masks(module)
    x, target = make_inputs(case, "float64")
    if case.target is None:
        result = gradcheck.check_module(module, x, eps=case.fd_eps)
    else:
        result = gradcheck.check_loss(module, x, target, eps=case.fd_eps)
    assert result.passed(GRADCHECK_TOLERANCE), f"{case.name}: {result}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", module_cases.MODULE_CASES, ids=lambda c: c.name)
def test_matches_torch_autograd(case, dtype):
    errors = check_module_case(case, dtype)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{case.name} [{dtype}]: " + "; ".join(failing)  # NaN/Inf where the case needs finite fails
