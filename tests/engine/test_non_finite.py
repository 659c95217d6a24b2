"""NaN/Inf in a run: the harness reports where they first appeared on each side and whether the sides agree."""
import json

import numpy as np
import pytest

import manual.nn as mnn
from compare.catalogue.extreme_cases import DIVERGENT_CASE
from compare.catalogue.training_cases import CATALOGUE
from compare.cli import check
from compare.engine.non_finite import NonFiniteLog
from compare.engine.step_loop import run_case, run_twins
from compare.engine.twins import build_twins


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_diverging_run_overflows_the_same_way_on_both_sides_and_passes(dtype):
    result = run_case(DIVERGENT_CASE, dtype)
    log = result.non_finite
    assert result.passed, check.table([result])
    assert log.seen and log.agree
    assert (log.manual.step, log.manual.name, log.manual.index) == (log.torch.step, log.torch.name, log.torch.index)
    assert 0 < log.torch.step < DIVERGENT_CASE.steps - 1
    text = check.table([result])
    assert f"NON-FINITE {DIVERGENT_CASE.name} [{dtype}, cpu]: both sides agree" in text
    assert f"torch:  first at step {log.torch.step}, {log.torch.name}" in text
    entry = json.loads(json.dumps(check.to_json([result])))["cases"][0]["non_finite"]
    assert entry["agree"] and entry["torch"]["step"] == entry["manual"]["step"] == log.torch.step
    assert entry["first_disagreement"] is None


class NaNTanh(mnn.Tanh):
    """A broken layer: from its third forward on, one output element is NaN."""

    calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= 3:  # on a copy: the caller's input and the saved output are not to be written into
            x = np.array(x)
            x[0, 0] = np.nan
        return super().forward(x)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_manual_layer_emitting_nan_is_reported_as_a_disagreement(dtype):
    case = next(c for c in CATALOGUE if c.name == "mlp6-7_tanh-ce-sgd_nesterov_wd")
    torch_twin, manual_twin = build_twins(case, dtype, "cpu", seed=0)
    manual_twin.model._modules["1"] = NaNTanh()
    result = run_twins(torch_twin, manual_twin, case.data.stream(0, dtype), 4, dtype, "cpu", case.name)
    log = result.non_finite
    assert not result.passed and not log.agree
    assert (log.manual.step, log.manual.name, log.manual.index) == (2, "output", (0, 0))
    assert np.isnan(log.manual.manual) and np.isfinite(log.manual.torch)
    assert log.torch is None
    assert (log.disagreement.step, log.disagreement.name) == (2, "output")
    text = check.table([result])
    assert f"NON-FINITE {case.name} [{dtype}, cpu]: the sides DISAGREE" in text
    assert "torch:  finite throughout" in text and "first disagreement: step 2, output[0, 0]: manual nan" in text
    entry = check.to_json([result])["cases"][0]["non_finite"]
    assert not entry["agree"] and entry["torch"] is None and entry["manual"]["manual"] == "nan"


PATTERNS = [  # (manual, torch, agree)
    ([1.0, np.inf], [1.0, np.inf], True),
    ([np.nan, -np.inf], [np.nan, -np.inf], True),
    ([1.0, np.inf], [1.0, -np.inf], False),
    ([np.nan, 1.0], [np.inf, 1.0], False),
    ([np.nan, 1.0], [0.5, 1.0], False),
    ([0.5, 1.0], [0.5, np.nan], False),
]


@pytest.mark.parametrize("manual_value, torch_value, agree", PATTERNS)
def test_agreement_means_the_same_nan_or_signed_inf_at_the_same_places(manual_value, torch_value, agree):
    log = NonFiniteLog()
    log.note(0, "finite", np.ones(2), np.ones(2))
    log.note(1, "x", np.array(manual_value), np.array(torch_value))
    assert log.seen and log.agree == agree
    assert (log.disagreement is None) == agree
    assert all(where is None or (where.step, where.name) == (1, "x") for where in (log.manual, log.torch))


def test_finite_runs_report_nothing():
    case = next(c for c in CATALOGUE if c.name == "linreg-mse-sgd")
    result = run_case(case, "float64", steps=3)
    assert not result.non_finite.seen and "NON-FINITE" not in check.table([result])
    assert check.to_json([result])["cases"][0]["non_finite"] == {
        "seen": False, "agree": True, "manual": None, "torch": None, "first_disagreement": None}
