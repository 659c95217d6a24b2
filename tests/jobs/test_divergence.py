"""Where and why free-running float64 twins parted (compare/realdata/divergence.py): a chaotic run parts at a step
that, replayed from torch's state, agrees (rounding amplified); a wrong backward parts at its first step, which
replayed still differs, its tensor named; dropout and float32 are named without training again; `cv` and `train`
print the sentence under a split that disagrees, and only there."""
import dataclasses
import importlib.util
import json

import pytest

import manual.nn
from compare.__main__ import main
from compare.realdata import datasets
from compare.realdata.cv import make_splits
from compare.realdata.divergence import first_divergence, parting
from compare.realdata.training import Recipe, prepare_split

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")


def digits_split(rows=300):
    dataset = datasets.subset(datasets.load("digits"), rows, seed=0)
    _, splits = make_splits(dataset, folds=3, seed=0)
    return prepare_split(dataset, *splits[0], "CrossEntropyLoss", "float64")


def recipe(lr, epochs=6, **model):
    return Recipe(("MLP", {"in_features": 64, "hidden": [32], "out_features": 10, "activation": "relu", **model}),
                  ("CrossEntropyLoss", {}), ("Adam", {"lr": lr}), epochs=epochs, batch_size=32)


def test_a_chaotic_run_parts_at_a_step_that_agrees_from_torchs_state():
    """Adam at lr 0.5: the parameters' difference grows from rounding (about 1e-16) by orders of magnitude."""
    parted = first_divergence(recipe(0.5), digits_split())
    assert parted is not None and parted.before <= 1 < parted.after
    assert parted.replayed.passed and parted.replayed.name.startswith(("grad.", "param."))
    assert "replayed from torch's state agrees" in parted.describe() and "amplified" in parted.describe()


def test_a_wrong_backward_parts_at_its_first_step_and_the_replay_names_it(monkeypatch):
    backward = manual.nn.Linear.backward

    def weight_grad_off_by_1e_7(self, grad_output):  # far above float64's tolerance (1e-10 relative); added, not a
        grad_input = backward(self, grad_output)  # factor, which Adam's first steps (lr·m/√v) would divide out
        self.weight.grad += 1e-7 * abs(self.weight.grad).max()
        return grad_input

    monkeypatch.setattr(manual.nn.Linear, "backward", weight_grad_off_by_1e_7)
    parted = first_divergence(recipe(1e-3), digits_split())
    assert parted is not None and (parted.step, parted.epoch, parted.before) == (1, 1, 0.0)
    assert not parted.replayed.passed and parted.replayed.name == "grad.2.weight"  # the last Linear: backward's first
    assert "differs too" in parted.describe() and "a wrong backward or update" in parted.describe()


def test_a_run_that_stays_together_has_no_parting_and_dropout_and_float32_are_named_without_training(monkeypatch):
    assert first_divergence(recipe(1e-3, epochs=2), digits_split()) is None
    monkeypatch.setattr("compare.realdata.divergence.first_divergence", lambda *args: pytest.fail("trained"))
    assert parting(recipe(1e-3, dropout=0.5), digits_split()).startswith("dropout > 0: each backend draws")
    float32 = dataclasses.replace(recipe(0.5), dtype="float32")  # one float32 step can exceed a fixed tolerance
    assert parting(float32, digits_split()).startswith("float32 steps are judged here by a fixed tolerance")


@pytest.mark.heavy  # all of digits, 8 epochs, in cv (2 folds) and in train
def test_cv_and_train_print_the_parting_under_a_split_that_disagrees(tmp_path, capsys):
    report = tmp_path / "cv.json"
    common = ["--lr", "0.5", "--epochs", "8"]  # Adam on all of digits: the folds part by 1e-3 (tolerance: 1e-10)
    assert main(["cv", *common, "--folds", "2", "--no-sklearn", "--json", str(report)]) == 1
    printed = capsys.readouterr().out.splitlines()
    folds = json.loads(report.read_text())["folds"]
    assert [f["parted"] is None for f in folds] == [f["agree"] for f in folds]
    assert [line for line in printed if " parted: " in line] == [
        f"fold {f['fold']} parted: {f['parted']}" for f in folds if f["parted"]]
    assert all("amplified" in f["parted"] for f in folds if f["parted"])
    assert main(["train", *common]) == 1
    assert any(line.startswith("parted: the parameters left the tolerance") and "amplified" in line
               for line in capsys.readouterr().out.splitlines())
