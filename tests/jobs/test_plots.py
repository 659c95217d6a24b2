"""The figures: `python -m compare plots --quick` writes seven PNGs and their data; in every figure's data the two
backends agree within compare/engine/tolerances.py and the harness runs behind it pass; each figure shows what it
claims (sigmoid gradients vanish, the perceptron fails XOR, ...); a disagreement and a missing matplotlib make
the command fail."""
import importlib.util
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import manual.models
from compare.__main__ import main
from compare.checks.optimizer_paths import SURFACES
from compare.cli.plots import FIGURES
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for, update_rule_tolerance_for
from compare.workers import tasks

# skipped without matplotlib, which is imported only by the tests that run (not at collection, which every pytest-xdist
# worker does)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")

# figure -> the tolerance its data is judged with (paths are update-rule checks, as in tests/checks/test_paths.py)
TOLERANCES = {**{name: tolerance_for for name in FIGURES}, "optimizer_paths": update_rule_tolerance_for}


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Path:
    """All seven figures, drawn in this process (-j 1; tests/workers/test_tasks.py draws two on processes of their
    own and compares)."""
    out = tmp_path_factory.mktemp("figures")
    torch.set_num_threads(3)  # not the 1 the command runs with, as tests/conftest.py's torch_threads (per test)
    try:
        assert main(["plots", "--out", str(out), "--quick", "-j", "1"]) == 0
        assert torch.get_num_threads() == 3  # the command restores torch's thread count
    finally:
        torch.set_num_threads(1)
    return out


def load(figures, name) -> dict:
    return json.loads((figures / f"{name}.json").read_text())


def rows(data: dict, **where) -> list[dict]:
    columns = data["columns"]
    table = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    return [row for row in table if all(row[key] == value for key, value in where.items())]


@pytest.mark.parametrize("name", FIGURES)
@pytest.mark.heavy  # `figures` computes and draws all seven
def test_png_is_written(figures, name):
    png = (figures / f"{name}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, f"{name}.png: {len(png)} bytes"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600 and height >= 300, f"{name}.png is {width}x{height}"


@pytest.mark.parametrize("name", FIGURES)
def test_backends_agree_in_the_figures_data(figures, name):
    data = load(figures, name)
    columns = data["columns"]
    pairs = [key.removesuffix("_manual") for key in columns if key.endswith("_manual")]
    assert pairs and all(f"{q}_torch" in columns for q in pairs), f"{name}: no manual/torch column pairs"
    dtypes = np.array(columns["dtype"])
    for dtype in set(columns["dtype"]):
        for q in pairs:
            manual_values, torch_values = (np.array(columns[f"{q}_{side}"], dtype=np.float64)[dtypes == dtype]
                                           for side in ("manual", "torch"))
            error = compare_arrays(0, q, manual_values, torch_values, TOLERANCES[name](dtype))
            assert error.passed, f"{name} [{dtype}]: {error.describe()} (index = row)"
    for check in data.get("checks", []):
        assert check["passed"], f"{name}: the harness run {check['run']!r} failed: {check.get('worst')}"


def test_loss_curves_hold_both_dtypes_of_every_case_at_every_step(figures):
    data = load(figures, "loss_curves")
    for case in data["settings"]["cases"].values():
        for dtype in ("float64", "float32"):
            steps = [r["step"] for r in rows(data, case=case, dtype=dtype)]
            assert steps == list(range(len(steps))) and len(steps) >= 10, (case, dtype)
    assert {r["phase"] for r in rows(data)} == {"train", "eval"}  # the BatchNorm case ends in eval mode
    for r in rows(data):
        assert r["abs_diff"] == abs(r["loss_manual"] - r["loss_torch"]) and r["abs_diff"] <= r["allowed"]


def test_sigmoid_gradients_vanish_and_batchnorm_keeps_them(figures):
    data = load(figures, "vanishing_gradients")
    for stage in dict.fromkeys(r["stage"] for r in rows(data)):  # at initialisation, after training
        norms = {net: [r["grad_norm_torch"] for r in rows(data, network=net, stage=stage)]
                 for net in ("sigmoid", "tanh", "ReLU", "sigmoid + BatchNorm")}
        assert all(len(n) == 10 for n in norms.values())  # one norm per Linear layer
        assert norms["sigmoid"][0] < 1e-5 * norms["sigmoid"][-1], stage  # first layer: vanished
        assert norms["sigmoid + BatchNorm"][0] > 0.1 * norms["sigmoid + BatchNorm"][-1], stage


def test_optimizer_paths_start_together_for_six_optimizers(figures):
    data = load(figures, "optimizer_paths")
    for surface, spec in SURFACES.items():
        for label in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"):
            path = rows(data, surface=surface, optimizer=label)
            assert len(path) == data["settings"]["steps"][surface] + 1
            assert (path[0]["x_manual"], path[0]["y_manual"]) == spec.start == (path[0]["x_torch"], path[0]["y_torch"])


def test_every_activation_is_drawn_with_torchs_kink_values(figures):
    data = load(figures, "activations")
    assert data["settings"]["activations"] == list(manual.models.ACTIVATIONS)
    at_zero = {r["activation"]: r["df_manual"] for r in rows(data, x=0.0)}
    assert at_zero["relu"] == 0.0 and at_zero["leaky_relu"] == 0.01 and at_zero["sigmoid"] == 0.25
    assert at_zero["softmax"] == 0.25 and at_zero["log_softmax"] == 0.5  # σ(0)(1 - σ(0)) and 1 - σ(0)


def test_perceptron_fails_xor_and_the_mlp_solves_it(figures):
    data = load(figures, "xor")
    classes = np.array([0, 1, 1, 0])
    for model, threshold in (("perceptron", 0.0), ("mlp", 0.5)):
        points = rows(data, model=model, points="xor")
        for side in ("manual", "torch"):
            correct = int(((np.array([r[f"score_{side}"] for r in points]) >= threshold) == classes).sum())
            assert correct <= 3 if model == "perceptron" else correct == 4, f"{model} ({side}): {correct}/4 correct"
    settings = data["settings"]["perceptron"]
    assert settings["mistakes_per_epoch_manual"] == settings["mistakes_per_epoch_torch"]
    assert min(settings["mistakes_per_epoch_manual"]) >= 1  # never an epoch without a mistake


def test_attention_map_is_causal_and_each_query_sums_to_one(figures):
    data = load(figures, "attention_map")
    for side in ("manual", "torch"):
        weights = np.zeros((data["settings"]["heads"], len(data["settings"]["prompt"]), len(data["settings"]["prompt"])))
        for r in rows(data):
            weights[r["head"], r["query"], r["key"]] = r[f"weight_{side}"]
        assert not np.triu(weights, 1).any()  # no query looks ahead
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)


def test_cv_accuracies_are_equal_fold_by_fold_beside_the_peer(figures):
    pytest.importorskip("sklearn")
    data = load(figures, "cv_folds")
    assert data["settings"]["peer"] and data["settings"]["dataset"] == "digits"
    for r in rows(data):
        assert r["accuracy_manual"] == r["accuracy_torch"], r["fold"]
        assert 0.0 <= r["accuracy_sklearn"] <= 1.0


def test_cv_figure_without_scikit_learn_draws_the_two_backends(tmp_path):
    from compare.plots import cv_folds
    from compare.plots.common import save_png

    data = cv_folds.compute(quick=True, sklearn=False)
    assert not data["settings"]["peer"] and all(r["accuracy_sklearn"] is None for r in data["rows"])
    assert all(r["accuracy_manual"] == r["accuracy_torch"] for r in data["rows"])
    save_png(cv_folds.draw(data), tmp_path / "cv.png")
    assert (tmp_path / "cv.png").stat().st_size > 10_000


def test_a_disagreement_makes_the_command_fail(tmp_path, monkeypatch, capsys):
    from compare.plots import activations

    compute = activations.compute

    def off_by_a_little(quick=False):
        data = compute(quick)
        data["rows"][7]["df_manual"] += 1e-6  # far above float64's tolerance for a value of ~1
        return data

    monkeypatch.setattr(activations, "compute", off_by_a_little)
    assert main(["plots", "--out", str(tmp_path), "--quick", "--only", "activations"]) == 1
    assert "DIFFER" in capsys.readouterr().out


def test_a_figure_whose_process_died_is_not_drawn_and_fails_the_command(tmp_path, monkeypatch, capsys):
    def run_tasks(command, figure_tasks, jobs, target, died, done):  # the xor figure's process is killed
        assert (command, jobs) == ("plots", 2)
        for index, task in enumerate(figure_tasks):
            done(index, died(task, "killed by SIGKILL") if task[0] == "xor" else ([f"{task[0]}.png agree"], True))

    monkeypatch.setattr(tasks, "run_tasks", run_tasks)
    assert main(["plots", "--out", str(tmp_path), "--quick", "-j", "2", "--only", "activations", "--only", "xor"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "activations.png agree",
        "xor.png                  NOT DRAWN: its process ended before it was drawn (killed by SIGKILL)",
        "1 of 2 figures agree between manual and torch; NOT DRAWN: xor"]


def test_without_matplotlib_the_command_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main(["plots", "--out", str(tmp_path)]) == 2
    assert "needs matplotlib" in capsys.readouterr().err and not any(tmp_path.iterdir())
