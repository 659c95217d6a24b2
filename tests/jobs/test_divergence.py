"""Where and why free-running float64 twins parted (compare/realdata/divergence.py): a chaotic run parts at a step
that, replayed from torch's state, agrees (rounding amplified); a wrong backward parts at its first step, which
replayed still differs, its tensor named; dropout and float32 are named without training again. (`cv` and `train`
print it under a split that disagrees: tests/jobs/test_cv.py.)"""
import dataclasses

import numpy as np
import pytest

import manual.nn
from compare.realdata.datasets import Dataset
from compare.realdata.divergence import first_divergence, parting
from compare.realdata.training import Recipe, prepare_split


def four_classes():
    """200 training and 100 test rows of 64 features, 4 classes cut by two hyperplanes (no dataset to load)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 64))
    y = (x[:, :10] @ rng.standard_normal(10) > 0).astype(np.int64) + 2 * (x[:, 10] > 0)
    rows = np.arange(300)
    return prepare_split(Dataset("four classes", "classification", x, y), rows[:200], rows[200:], "CrossEntropyLoss",
                         "float64")


def recipe(lr, epochs=6, **model):
    return Recipe(("MLP", {"in_features": 64, "hidden": [32], "out_features": 4, "activation": "relu", **model}),
                  ("CrossEntropyLoss", {}), ("Adam", {"lr": lr}), epochs=epochs, batch_size=32)


def test_a_chaotic_run_parts_at_a_step_that_agrees_from_torchs_state():
    """Adam at lr 0.5: the parameters' difference grows from rounding (about 1e-16) by orders of magnitude."""
    parted = first_divergence(recipe(0.5), four_classes())
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
    parted = first_divergence(recipe(1e-3), four_classes())
    assert parted is not None and (parted.step, parted.epoch, parted.before) == (1, 1, 0.0)
    assert not parted.replayed.passed and parted.replayed.name == "grad.2.weight"  # the last Linear: backward's first
    assert "differs too" in parted.describe() and "a wrong backward or update" in parted.describe()


def test_a_run_that_stays_together_has_no_parting_and_dropout_and_float32_are_named_without_training(monkeypatch):
    assert first_divergence(recipe(1e-3, epochs=2), four_classes()) is None
    monkeypatch.setattr("compare.realdata.divergence.first_divergence", lambda *args: pytest.fail("trained"))
    assert parting(recipe(1e-3, dropout=0.5), four_classes()).startswith("dropout > 0: each backend draws")
    float32 = dataclasses.replace(recipe(0.5), dtype="float32")  # one float32 step can exceed a fixed tolerance
    assert parting(float32, four_classes()).startswith("float32 steps are judged here by a fixed tolerance")
