"""explain names nothing where nothing is wrong: every case of the training catalogue, replayed at its first and
third step and at its first evaluation step, in each of its dtypes, matches module by module (float32 judged by
the error model on torch's float64 reference of the same step)."""
import pytest

from compare.catalogue.training_cases import CATALOGUE
from compare.explain.verdict import explain_case


@pytest.mark.slow  # 228 replays, about a minute
@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_a_correct_case_matches_module_by_module(case):
    steps = {0, min(2, case.steps - 1)} | ({case.steps} if case.eval_steps else set())
    for dtype in case.dtypes:
        for step in sorted(steps):
            explanation = explain_case(case, dtype, step=step)
            assert explanation.kind is None, f"{dtype} step {step}: {explanation.summary()}"
            assert explanation.modules and all(error.passed for verdict in explanation.modules
                                               for error in verdict.errors.values())
