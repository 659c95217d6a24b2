"""Figure 5: XOR. The decision regions of a perceptron (no line separates XOR, so it fails) and of a small MLP
(it solves it), each trained on both backends.

Perceptron: manual.models.Perceptron and torch_ref.models.Perceptron from the same initial weights, Rosenblatt's
online rule (`fit`) for 100 epochs on the four points with labels ±1; its region is the sign of the score
x·weightᵀ + bias. MLP: 2-8-2 tanh, cross-entropy, trained by the harness (compare.engine.step_loop.run_twins, every step
compared) on the four points as one batch; its region is softmax(logits)₁ ≥ 1/2. Both backends' scores are
evaluated on a grid over [-0.5, 1.5]² and on the four points.
"""
from __future__ import annotations

import itertools
from typing import TypedDict

import numpy as np
import torch

import manual.models
import manual.nn.functional as F
import torch_ref.models
from compare.catalogue.case_types import Case
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import TORCH_DTYPES, build_twins, to_numpy
from compare.plots.common import column, new_figure, select

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_CLASS = np.array([0, 1, 1, 0])
DTYPE = "float64"


class _PerceptronSettings(TypedDict):  # keyword arguments of the Perceptrons' `fit`
    lr: float
    epochs: int


PERCEPTRON: _PerceptronSettings = {"lr": 0.1, "epochs": 100}
MLP = Case("xor-mlp2-8-2_tanh-ce-sgd_mom",
           ("MLP", {"in_features": 2, "hidden": [8], "out_features": 2, "activation": "tanh"}),
           ("CrossEntropyLoss", {}), ("SGD", {"lr": 0.5, "momentum": 0.9}), data=None, steps=300)
LIMITS = (-0.5, 1.5)
TOLERANCE = tolerance_for


def _perceptrons(seed: int = 0):
    """(torch, manual) perceptrons with torch's initial weights in both, trained by the online rule on XOR."""
    torch.manual_seed(seed)
    torch_model = torch_ref.models.Perceptron(2, dtype=TORCH_DTYPES[DTYPE])
    manual_model = manual.models.Perceptron(2, dtype=DTYPE)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    signs = np.where(XOR_CLASS == 1, 1.0, -1.0)
    mistakes = (manual_model.fit(XOR_X, signs, **PERCEPTRON),
                torch_model.fit(torch.from_numpy(XOR_X), torch.from_numpy(signs), **PERCEPTRON))
    scores = (lambda X: manual_model.linear(X)[:, 0],
              lambda X: to_numpy(torch_model.linear(torch.from_numpy(X)))[:, 0])
    return scores, mistakes


def _mlps():
    """(manual, torch) p(class 1) of the MLP twins after training, and the harness's verdict on the run."""
    torch_twin, manual_twin = build_twins(MLP, DTYPE, "cpu", seed=0)
    result = run_twins(torch_twin, manual_twin, itertools.repeat((XOR_X, XOR_CLASS)), MLP.steps, DTYPE, "cpu",
                       MLP.name)
    scores = (lambda X: F.softmax(manual_twin.model(X), dim=1)[:, 1],
              lambda X: to_numpy(torch.softmax(torch_twin.model(torch.from_numpy(X)), dim=1))[:, 1])
    return scores, result


def compute(quick: bool = False) -> dict:
    side = np.linspace(*LIMITS, 31 if quick else 81)
    grid = np.stack([g.ravel() for g in np.meshgrid(side, side)], axis=1)
    (perceptron, mistakes), (mlp, result) = _perceptrons(), _mlps()
    rows = []
    for model, (manual_score, torch_score), threshold in (("perceptron", perceptron, 0.0), ("mlp", mlp, 0.5)):
        for where, X in (("grid", grid), ("xor", XOR_X)):
            with torch.no_grad():
                m, t = manual_score(X.copy()), torch_score(X.copy())
            rows += [{"model": model, "points": where, "dtype": DTYPE, "x1": float(x[0]), "x2": float(x[1]),
                      "score_manual": float(a), "score_torch": float(b), "threshold": threshold}
                     for x, a, b in zip(X, m, t, strict=True)]
    settings = {"perceptron": {**PERCEPTRON, "mistakes_per_epoch_manual": mistakes[0],
                               "mistakes_per_epoch_torch": mistakes[1]},
                "mlp": {"model": MLP.model, "optimizer": MLP.optimizer, "steps": MLP.steps}, "grid": len(side),
                "dtype": DTYPE, "quick": quick}
    checks = [{"run": "perceptron mistakes per epoch", "passed": mistakes[0] == mistakes[1]},
              {"run": MLP.name, "steps": MLP.steps, "passed": result.passed, "worst": result.worst.describe()}]
    return {"settings": settings, "checks": checks, "rows": rows}


def _correct(rows, side: str) -> int:
    labels = (column(rows, f"score_{side}") >= rows[0]["threshold"]).astype(int)
    return int((labels == XOR_CLASS).sum())


TITLES = {"perceptron": "Perceptron, online rule, {epochs} epochs (lr {lr})",
          "mlp": "MLP 2-8-2 tanh, cross-entropy, SGD momentum, {steps} steps"}


def draw(data: dict):
    rows, settings = data["rows"], data["settings"]
    figure = new_figure(11, 5.4)
    axes = figure.subplots(1, 2)
    n = settings["grid"]
    for ax, model in zip(axes, ("perceptron", "mlp"), strict=True):
        grid = select(rows, model=model, points="grid")
        x1, x2 = (column(grid, key).reshape(n, n) for key in ("x1", "x2"))
        threshold = grid[0]["threshold"]
        manual_score, torch_score = (column(grid, f"score_{side}").reshape(n, n) for side in ("manual", "torch"))
        ax.contourf(x1, x2, (manual_score >= threshold).astype(float), levels=[-0.5, 0.5, 1.5],
                    colors=["#c6dbef", "#fdd0a2"])
        ax.contour(x1, x2, torch_score, levels=[threshold], colors="k", linewidths=1.5)
        ax.contour(x1, x2, manual_score, levels=[threshold], colors="C3", linewidths=2.5, linestyles="dotted")
        for label, marker, color in ((0, "o", "C0"), (1, "s", "C1")):
            ax.plot(*XOR_X[XOR_CLASS == label].T, marker, color=color, ms=12, mec="k",
                    label=f"class {label} (XOR = {label})")
        points = select(rows, model=model, points="xor")
        counts = f"manual {_correct(points, 'manual')}/4, torch {_correct(points, 'torch')}/4 correct"
        ax.set_title(TITLES[model].format(**settings["perceptron"], **settings["mlp"]) + f"\n{counts}", fontsize=10)
        ax.set(xlim=LIMITS, ylim=LIMITS, xlabel="x₁", ylabel="x₂", aspect="equal")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [*axes[0].get_legend_handles_labels()[0],
               Patch(color="#c6dbef", label="predicted class 0 (manual)"),
               Patch(color="#fdd0a2", label="predicted class 1 (manual)"),
               Line2D([], [], color="k", lw=1.5, label="decision boundary, torch"),
               Line2D([], [], color="C3", lw=2.5, ls="dotted", label="decision boundary, manual")]
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)
    figure.suptitle(f"XOR: one line cannot separate it, one hidden layer can (both backends, {settings['dtype']})",
                    fontsize=11)
    return figure
