"""`python -m compare explain`: the report of an injected bug, refusals, the float32 path, --plot, and the hints
that point to it from the main job's failure lines and from compare.testing's assertion."""
import builtins
import dataclasses

import numpy as np
import pytest
import torch

import manual.nn as nn
import manual.optim
import torch_ref.models
from compare.__main__ import main
from compare.catalogue import training_cases
from compare.cli import check
from compare.engine.step_loop import run_case
from compare.explain.verdict import BACKWARD, explain_case
from compare.testing import assert_model_trains_like
from manual import models

CASE = "mlp6-7_tanh-ce-sgd_nesterov_wd"  # Linear(4,6) Tanh Linear(6,7) Tanh Linear(7,3)


@pytest.fixture
def middle_linear_bug(monkeypatch):
    """Linear(6, 7)'s weight gradient 1% too large."""
    original = nn.Linear.backward

    def backward(self, grad_output):
        grad_input = original(self, grad_output)
        if self.in_features == 6:
            self.weight.grad *= 1.01
        return grad_input
    monkeypatch.setattr(nn.Linear, "backward", backward)


def test_the_report_names_the_layer_side_code_and_table(middle_linear_bug, capsys):
    assert main(["explain", CASE, "--steps", "3"]) == 1
    out = capsys.readouterr().out
    assert "first wrong: 2: Linear(in_features=6, out_features=7, bias=True) (backward)" in out
    assert "returns a mismatching grad.weight" in out
    assert "finite differences" in out and "manual FAILS" in out and "torch passes" in out
    assert "wrong: manual's backward" in out
    assert "Backward: dL/dx = G W" in out  # the derivation line of Linear's docstring
    rows = {line.split(":")[0]: line for line in out.splitlines() if line[:1].isdigit() or line.startswith("loss")}
    assert rows["2"].split()[-4:] == ["weight", "DIFF", "bias", "ok"]
    assert "DIFF" not in rows["4"] and "DIFF" not in rows["loss"]


def test_a_passing_case_has_nothing_to_explain(capsys):
    assert main(["explain", CASE, "--steps", "2"]) == 0
    assert "nothing to explain" in capsys.readouterr().out


def test_step_n_replays_that_step(capsys):
    assert main(["explain", CASE, "--steps", "3", "--step", "2", "--dtype", "float64"]) == 0
    assert "step 2 replayed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["explain", "no-such-case"], "no training case named 'no-such-case'"),
    (["explain", "mlp6-7_tanh"], "close: mlp6-7_tanh-ce-sgd_nesterov_wd"),
    (["explain", CASE, "--steps", "3", "--step", "3"], "--step 3: "),
    (["explain", CASE, "--step", "-1"], "argument --step"),
    (["explain", CASE, "--dtype", "float16"], "argument --dtype"),
])
def test_refusals(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_float32_is_judged_by_the_error_model(middle_linear_bug):
    case = next(c for c in training_cases.CATALOGUE if c.name == CASE)
    explanation = explain_case(case, "float32", steps=3)
    assert explanation.kind == BACKWARD and explanation.culprit.path == "2", explanation.summary()
    assert not [v.path for v in explanation.modules if v.path != "2" and v.failed("grad.", "output")]


def test_plot_draws_the_error_over_the_bound(middle_linear_bug, tmp_path, capsys):
    path = tmp_path / "errors.png"
    assert main(["explain", CASE, "--steps", "3", "--dtype", "float64", "--plot", str(path)]) == 1
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "errors.png"]  # atomic: no temporary left


def test_plot_without_matplotlib_is_the_extras_error(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["explain", CASE, "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "explain --plot needs matplotlib" in err and "[plot]" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_plot_series_are_error_over_bound():
    from compare.explain.plot import series
    case = next(c for c in training_cases.CATALOGUE if c.name == CASE)
    result = run_case(case, "float64", steps=2)
    lines = series(result)
    assert set(lines) == {e.name for e in result.errors}
    steps, ratios = lines["grad.2.weight"]
    assert list(steps) == [0, 1] and np.all(ratios <= 1)


def test_the_main_jobs_failure_lines_suggest_explain(middle_linear_bug):
    case = next(c for c in training_cases.CATALOGUE if c.name == CASE)
    failing = run_case(dataclasses.replace(case, steps=2), "float64")
    assert f"python -m compare explain {CASE} --dtype float64" in check.table([failing])


def test_assert_model_trains_like_names_the_layer(middle_linear_bug):
    torch.manual_seed(0)
    torch_model = torch_ref.models.MLP(4, [6, 7], 3, activation="tanh", dtype=torch.float64)
    manual_model = models.MLP(4, [6, 7], 3, activation="tanh", dtype="float64")
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(3)]
    with pytest.raises(AssertionError) as failure:
        assert_model_trains_like(manual_model, torch_model, (manual.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                                 (manual.optim.SGD(manual_model.parameters(), lr=0.1),
                                  torch.optim.SGD(torch_model.parameters(), lr=0.1)), batches, 3)
    assert "explain: 2: Linear(in_features=6, out_features=7, bias=True), backward wrong: manual's backward" \
        in str(failure.value)
