"""Figure 6: cross-validation on digits, per-fold test accuracy of both backends and of scikit-learn's MLP (the peer).

The run is compare.realdata.cv's (`run_cv`, the engine of `python -m compare cv`): stratified 5-fold, MLP 64-64-10 ReLU,
Adam, batch 32, float64, one seed; manual and torch see identical rows and mini-batches, so their accuracies are
equal fold by fold (compare.realdata.training.agreement: accuracies exactly, losses within tolerance), while the peer
(other initialisation and shuffling) lands nearby. The run is shorter than `python -m compare cv`'s default
(EPOCHS instead of 20 epochs). Without scikit-learn there is neither digits nor the peer: the figure then uses a
synthetic 3-class problem (compare.catalogue.batches) and says so.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from compare.catalogue.batches import Batches
from compare.engine.tolerances import tolerance_for
from compare.plots.common import column, new_figure
from compare.realdata import datasets
from compare.realdata.cv import make_splits, run_cv
from compare.realdata.training import Recipe

EPOCHS, FOLDS = 10, 5
QUICK = {"epochs": 2, "folds": 3, "samples": 300}
TOLERANCE = tolerance_for
SIDES = {"manual": ("manual", "C3", None), "torch": ("torch", "C0", None),  # name -> (label, color, hatch)
         "sklearn": ("scikit-learn MLP (peer)", "0.6", "//")}


def _dataset(quick: bool, sklearn: bool) -> datasets.Dataset:
    if not sklearn:  # digits ships inside scikit-learn
        x, y = next(Batches("classification", in_features=8, targets=3, batch_size=600).stream(0, "float64"))
        return datasets.Dataset("synthetic 3-class", "classification", x, y)
    digits = datasets.load("digits")
    return datasets.subset(digits, QUICK["samples"], seed=0) if quick else digits


def compute(quick: bool = False, sklearn: bool | None = None) -> dict:
    sklearn = importlib.util.find_spec("sklearn") is not None if sklearn is None else sklearn
    dataset = _dataset(quick, sklearn)
    epochs, folds = (QUICK["epochs"], QUICK["folds"]) if quick else (EPOCHS, FOLDS)
    recipe = Recipe(("MLP", {"in_features": dataset.X.shape[1], "hidden": [64], "out_features": dataset.n_classes,
                             "activation": "relu"}), ("CrossEntropyLoss", {}), ("Adam", {"lr": 1e-3}), epochs=epochs)
    scheme, splits = make_splits(dataset, folds, seed=recipe.seed)
    results = run_cv(dataset, recipe, splits, peer=sklearn)
    rows = [{"fold": r.fold, "dtype": recipe.dtype, "n_train": r.n_train, "n_test": r.n_test,
             "accuracy_manual": r.manual["accuracy"], "accuracy_torch": r.torch["accuracy"],
             "loss_manual": r.manual["loss"], "loss_torch": r.torch["loss"], "param_err": r.param_err,
             "accuracy_sklearn": r.peer["accuracy"] if r.peer else None,
             "loss_sklearn": r.peer["loss"] if r.peer else None}
            for r in results]
    checks = [{"run": f"fold {r.fold}", "passed": r.agree} for r in results]
    settings = {"dataset": dataset.name, "samples": len(dataset.y), "scheme": scheme, "recipe": recipe.describe(),
                "epochs": epochs, "peer": sklearn, "quick": quick}
    return {"settings": settings, "checks": checks, "rows": rows}


def draw(data: dict):
    rows, settings = data["rows"], data["settings"]
    sides = [side for side in SIDES if side != "sklearn" or settings["peer"]]
    figure = new_figure(11, 5.2)
    ax = figure.subplots()
    groups = np.arange(len(rows) + 1)  # the folds, then the mean
    width = 0.8 / len(sides)
    lowest = 1.0
    for i, side in enumerate(sides):
        label, color, hatch = SIDES[side]
        values = column(rows, f"accuracy_{side}")
        values = np.append(values, values.mean())
        lowest = min(lowest, values.min())
        bars = ax.bar(groups + (i - (len(sides) - 1) / 2) * width, values, width, color=color, hatch=hatch,
                      edgecolor="white", label=f"{label}: mean {values[-1]:.4f} ± {values[:-1].std():.4f}")
        ax.bar_label(bars, fmt="%.4f", rotation=90, padding=3, fontsize=7)
    ax.set_xticks(groups, [f"fold {r['fold']}\n(test {r['n_test']})" for r in rows] + ["mean"])
    ax.set_ylim(max(0.0, lowest - 0.08), 1.02)
    ax.set_ylabel("test accuracy (axis cut below)")
    figure.legend(loc="outside lower center", ncol=len(sides), fontsize=9)
    same = all(r["accuracy_manual"] == r["accuracy_torch"] for r in rows)
    peer = "" if settings["peer"] else "\nscikit-learn is not installed: no digits (synthetic data instead), no peer"
    ax.set_title(f"{settings['dataset']}, {settings['samples']} samples, {settings['scheme']}\n"
                 f"MLP 64 ReLU, Adam(lr=0.001), batch 32, float64, short run: {settings['epochs']} epochs "
                 f"(`python -m compare cv`: 20); manual {'=' if same else '≠'} torch on every fold{peer}",
                 fontsize=10)
    return figure
