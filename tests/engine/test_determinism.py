"""The same seed gives bit-identical manual runs and JSON reports identical apart from their timing fields."""
import json
import subprocess
import sys

import numpy as np
import pytest

from compare.__main__ import main
from compare.catalogue.training_cases import CATALOGUE
from compare.engine.step_loop import run_twins
from compare.engine.twins import build_twins


def manual_trajectory(seed):
    case = next(c for c in CATALOGUE if c.name == "mlp6-7_tanh-ce-sgd_nesterov_wd")
    torch_twin, manual_twin = build_twins(case, "float64", "cpu", seed)
    run_twins(torch_twin, manual_twin, case.data.stream(seed, "float64"), 10, "float64", "cpu")
    return manual_twin.model.state_dict()


def test_same_seed_gives_bit_identical_manual_parameters():
    first, second = manual_trajectory(3), manual_trajectory(3)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert any(not np.array_equal(first[k], v) for k, v in manual_trajectory(4).items())


def report_without_timing(tmp_path, name, in_process):
    path = tmp_path / name
    argv = ["--only", "softmaxreg", "--steps", "5", "--seed", "7", "-j", "1", "--json", str(path)]
    if in_process:
        assert main(argv) == 0
    else:
        subprocess.run([sys.executable, "-m", "compare", *argv], check=True, capture_output=True)
    report = json.loads(path.read_text())
    for case in report["cases"]:
        case.pop("timing")
    return report


@pytest.mark.heavy  # an interpreter
def test_json_reports_differ_only_in_timing(tmp_path, capsys):
    """One run in a fresh process, one in this one (another hash seed, other state before it): the reports
    differ only in timing. One process start, not two: the other run's start-up proves nothing more. Both run
    their cases in their own process (-j 1: no forkserver, and the in-process run really is in this one); that
    -j 2 gives the rows and JSON of -j 1 is tests/workers/test_pool.py's."""
    fresh = report_without_timing(tmp_path, "a.json", in_process=False)
    assert fresh == report_without_timing(tmp_path, "b.json", in_process=True)
