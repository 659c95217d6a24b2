"""Cross-validation on real data: both backends agree fold by fold (float64: losses to tolerance, accuracies
exactly), scaling uses the training rows only, and the `cv`/`train` commands run end to end; under a split that
disagrees (a chaotic run) they say where and why its twins parted (compare/realdata/divergence.py)."""
import importlib.util
import json

import numpy as np
import pytest

import manual.optim
from compare.__main__ import main
from compare.engine.tolerances import tolerance_for
from compare.realdata import datasets
from compare.realdata.cv import make_splits, run_cv
from compare.realdata.training import Recipe, prepare_split

# skipped without scikit-learn, which is imported only by the tests that run (about 1 s: not at collection)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")


# every optimizer both backends have, each with a learning rate that learns the subset in 3 epochs
OPTIMIZERS = [pytest.param((name, kwargs), id=name) for name, kwargs in
              [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 1e-2}), ("AdamW", {"lr": 1e-2}),
               ("RMSprop", {"lr": 1e-2}), ("Adagrad", {"lr": 0.1})] if hasattr(manual.optim, name)]


def mlp_recipe(dataset, optimizer, loss="CrossEntropyLoss", epochs=3, dtype="float64"):
    outputs = dataset.n_classes if loss == "CrossEntropyLoss" else 1
    return Recipe(("MLP", {"in_features": dataset.X.shape[1], "hidden": [32], "out_features": outputs,
                           "activation": "relu"}), (loss, {}), optimizer, epochs=epochs, batch_size=32, dtype=dtype)


def assert_folds_agree(results, dtype="float64"):
    tolerance = tolerance_for(dtype)
    for r in results:
        assert r.agree, f"fold {r.fold}: manual {r.manual} vs torch {r.torch}"
        if "accuracy" in r.torch:
            assert r.manual["accuracy"] == r.torch["accuracy"], r.fold
        assert abs(r.manual["loss"] - r.torch["loss"]) <= tolerance.rtol * abs(r.torch["loss"]) + tolerance.atol
        assert r.param_err <= tolerance.rtol, f"fold {r.fold}: final parameters differ by {r.param_err:.1e}"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_folds_agree_on_a_digits_subset(optimizer):
    dataset = datasets.subset(datasets.load("digits"), 300, seed=0)
    _, splits = make_splits(dataset, folds=3, seed=0)
    results = run_cv(dataset, mlp_recipe(dataset, optimizer), splits, peer=False)
    assert len(results) == 3 and sum(r.n_test for r in results) == 300
    assert_folds_agree(results)
    assert np.mean([r.torch["accuracy"] for r in results]) > 0.5  # it learned something in 3 epochs


def test_folds_agree_on_diabetes_regression_and_report_target_units():
    dataset = datasets.load("diabetes")
    _, splits = make_splits(dataset, folds=3, seed=0)
    results = run_cv(dataset, mlp_recipe(dataset, ("SGD", {"lr": 0.01}), loss="MSELoss"), splits, peer=True)
    assert_folds_agree(results)
    for r in results:
        assert set(r.torch) == {"loss", "mae", "mse"} and 20 < r.torch["mae"] < 150  # target units, not z-scores
        assert r.peer is not None and set(r.peer) == {"loss", "mae", "mse"}


def test_leave_one_out_runs_every_sample_once():
    dataset = datasets.subset(datasets.load("breast_cancer"), 12, seed=0)
    _, splits = make_splits(dataset, loo=True)
    results = run_cv(dataset, mlp_recipe(dataset, ("SGD", {"lr": 0.05}), epochs=2), splits, peer=False)
    assert len(results) == 12 and all(r.n_test == 1 for r in results)
    assert_folds_agree(results)


def test_features_are_scaled_with_training_rows_only():
    dataset = datasets.load("digits")
    train_idx, test_idx = np.arange(0, 1500), np.arange(1500, 1797)
    split = prepare_split(dataset, train_idx, test_idx, "CrossEntropyLoss", "float64")
    varying = dataset.X[train_idx].std(axis=0) > 0
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.std(axis=0)[varying], 1, rtol=1e-12)
    mean, std = dataset.X[train_idx].mean(axis=0), dataset.X[train_idx].std(axis=0)
    np.testing.assert_array_equal(split.X_test, (dataset.X[test_idx] - mean) / np.where(std > 0, std, 1.0))
    shifted = datasets.Dataset("digits", "classification", dataset.X.copy(), dataset.y)
    shifted.X[test_idx] += 100.0  # changing the test rows must not move the training rows' scaling
    np.testing.assert_array_equal(prepare_split(shifted, train_idx, test_idx, "CrossEntropyLoss", "float64").X_train,
                                  split.X_train)


def test_cv_command_prints_the_table_and_writes_json(tmp_path, capsys):
    status = main(["cv", "--dataset", "digits", "--limit", "200", "--folds", "3", "--epochs", "2",
                   "--optimizer", "sgd", "--json", str(tmp_path / "cv.json")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "acc manual" in out and "acc sklearn" in out and "mean±std" in out and "3 of 3 folds agree" in out
    report = json.loads((tmp_path / "cv.json").read_text())
    assert len(report["folds"]) == 3 and all(f["agree"] for f in report["folds"])


def test_train_command_prints_epochs_and_the_summary(capsys):
    status = main(["train", "--dataset", "digits", "--limit", "300", "--model", "mlp", "--optimizer", "sgd",
                   "--epochs", "2", "--hidden", "16"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "MLP summary" in out and "summary: manual == torch" in out and "test acc torch" in out
    assert "test metrics agree" in out


@pytest.mark.parametrize("options", [["--momentum", "1.5"], ["--lr", "1e308"]], ids=["refused", "diverges"])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_fit_scikit_learn_refuses_or_gives_up_leaves_the_peer_out(options, capsys):
    """Its MLP refuses a momentum above 1, which torch's SGD takes, and raises once its weights turn non-finite (a
    learning rate where the twins diverge alike, to the same NaNs): no peer column, and the twins still compared."""
    status = main(["cv", "--dataset", "digits", "--limit", "100", "--folds", "2", "--epochs", "1", "--optimizer", "sgd",
                   *options])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "2 of 2 folds agree" in out and "acc sklearn" not in out
    assert "scikit-learn: no peer in 2 of 2 folds: its MLP lacks the recipe's optimizer, layers or input, or " \
           "refused or gave up on the fit" in out


def test_a_batch_size_above_the_training_rows_is_one_batch_of_them_all(capsys):
    """As torch's DataLoader gives it; the summary's input is that batch (10**20 rows were once allocated for it)."""
    status = main(["train", "--dataset", "digits", "--limit", "100", "--epochs", "1", "--batch-size", str(10 ** 20)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "(input shape [80, 64])" in out and "test metrics agree" in out


# SGD ~5 s, Adam ~9 s: Adam's agreement fold by fold is test_folds_agree_on_a_digits_subset's; its full run is slow
@pytest.mark.parametrize("optimizer", [p if p.id == "SGD" else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
                                       for p in OPTIMIZERS if p.id in ("SGD", "Adam")])
@pytest.mark.heavy  # all of digits, 5 folds of 20 epochs
def test_full_digits_five_fold_agrees_and_matches_the_peer(optimizer):
    """The issue's criterion: digits, 5-fold, MLP: the same accuracy per fold on both backends (Adam once
    manual.optim has it), with scikit-learn's MLPClassifier beside it."""
    dataset = datasets.load("digits")
    _, splits = make_splits(dataset, folds=5, seed=0)
    recipe = Recipe(("MLP", {"in_features": 64, "hidden": [64], "out_features": 10, "activation": "relu"}),
                    ("CrossEntropyLoss", {}), optimizer, epochs=20, batch_size=32, dtype="float64")
    results = run_cv(dataset, recipe, splits, peer=True)
    assert_folds_agree(results)
    assert np.mean([r.torch["accuracy"] for r in results]) > 0.93
    if optimizer[0] in ("SGD", "Adam"):  # the optimizers scikit-learn's MLP has
        assert all(r.peer is not None and r.peer["accuracy"] > 0.9 for r in results)


@pytest.mark.heavy  # all of digits, 8 epochs, in cv (2 folds) and in train
def test_cv_and_train_say_where_and_why_a_split_that_disagrees_parted(tmp_path, capsys):
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
