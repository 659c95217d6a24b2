"""`python -m compare --profile`: the parts of the run's time add up, and the process line counts the imports."""
import pytest

from compare.cli import check
from compare.engine.step_loop import TIMED, CaseResult


def _result(**seconds) -> CaseResult:
    result = CaseResult("c", "float32", "cpu", 10)
    result.timing.update(seconds)
    result.timing["total"] = sum(result.timing[part] for part in TIMED)
    return result


def test_profile_splits_the_check_and_the_process():
    results = [_result(manual=1.0, torch=2.0, startup=1.0, compare=0.5, reference=0.5),
               _result(manual=1.0, torch=1.0, compare=0.5, resync=0.5)]
    t = check.timing(results, wall=8.5)
    assert t["harness"] == pytest.approx(2.5) and t["outside_cases"] == pytest.approx(0.5)
    assert t["harness_share"] == pytest.approx(2.5 / 8.5)
    text = check.profile(results, 8.5, imports=1.5, cpu=8.0)
    assert "harness share: 29.4%" in text
    assert "process: 1.50 s of imports before the check (CPU) + 8.50 s of check = 10.00 s; of it the harness 25.0%, " \
           "torch's start-up 10.0%, the imports 15.0%; the check's CPU time 8.00 s" in text
    assert "process:" not in check.profile(results, 8.5)
