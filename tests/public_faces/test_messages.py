"""What a failing check prints: the bound actually used, each element's own error, first and worst once."""
import math

from compare.engine.error_table import TensorError
from compare.testing import mismatch_report


def error(name, index, manual, torch, ratio, max_abs=0.6, max_rel=0.1953):
    return TensorError(0, name, max_abs, max_rel, ratio, index, manual, torch, allowed=1e-6, scale=3.0)


def test_abs_and_rel_are_the_elements_own_not_the_tensors():
    text = error("grad.input", (1, 0), 0.0, 0.529, 5e5).describe()
    assert "(abs 5.290e-01, rel 1.000e+00, allowed 1.000e-06)" in text, text  # not the tensor-wide 0.6 / 0.1953
    assert "rel inf" in error("grad.input", (0,), 0.25, 0.0, 5e5).describe()


def test_first_and_worst_share_one_line_when_they_are_the_same_element():
    one = mismatch_report("T", [error("grad.weight", (2,), 1.0, 2.0, 9.0)], "float64")
    assert one is not None and one.splitlines()[1].startswith("  first and worst: step 0, grad.weight[2]")
    assert len(one.splitlines()) == 2
    two = mismatch_report("T", [error("grad.input", (0,), 1.0, 2.0, 3.0), error("grad.weight", (2,), 1.0, 9.0, 9.0)],
                          "float64")
    assert two is not None and [line.split(":")[0] for line in two.splitlines()[1:]] == ["  first", "  worst"]


def test_each_dtype_states_the_bound_it_used():
    failing = [error("grad.input", (0,), 1.0, 2.0, math.inf)]
    assert "beyond |manual - torch| <= 1e-10·|torch| + 1e-13\n" in mismatch_report("T", failing, "float64")
    float32 = mismatch_report("T", failing, "float32")
    assert "beyond |manual - torch| <= 4·S + 16·u·M, the float32 error model" in float32 and "1e-05" not in float32
