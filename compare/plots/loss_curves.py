"""Figure 1: per-batch losses of manual and torch overlaid for three catalogue cases, |difference| below.

The numbers are the harness's own (compare.engine.step_loop.run_case): for the 0-d loss its TensorError holds both
values and their difference at every step. float64 runs free from the first step to the last; float32 steps each
start from torch's state (the harness's re-sync, compare/engine/tolerances.py), so a float32 difference is one step's.
`allowed` is the tolerance the harness checks the loss against, rtol·|torch| + atol.
"""
from __future__ import annotations

import numpy as np

from compare.catalogue.training_cases import CATALOGUE
from compare.engine.step_loop import run_case
from compare.engine.tolerances import tolerance_for
from compare.plots.common import column, new_figure, select

# panel title -> catalogue case
CASES = {
    "MLP 4-6-7-3 tanh, SGD Nesterov": "mlp6-7_tanh-ce-sgd_nesterov_wd",
    "MLP 4-6-3 tanh, Adam (+ clipping, plateau lr)": "optim-mlp6_tanh-ce-adam_l2-plateau-clipnorm",
    "MLP 4-8-8-3 ReLU + BatchNorm, SGD momentum": "mlp8-8_relu_bn-ce-sgd_mom-train_then_eval",
}
DTYPES = ("float64", "float32")
COLORS = {"float64": "C0", "float32": "C1"}
TOLERANCE = tolerance_for


def compute(quick: bool = False) -> dict:
    by_name = {case.name: case for case in CATALOGUE}
    rows, checks = [], []
    for title, name in CASES.items():
        case = by_name[name]
        for dtype in DTYPES:
            result = run_case(case, dtype, steps=10 if quick else None)
            tolerance = tolerance_for(dtype)
            worst = result.worst
            assert worst is not None, "a run of at least one step compares tensors"
            checks.append({"run": f"{name} [{dtype}]", "steps": result.steps, "passed": result.passed,
                           "worst": worst.describe()})
            for error in result.errors:
                if error.name == "loss":
                    rows.append({"case": name, "title": title, "dtype": dtype, "step": error.step,
                                 "phase": "train" if error.step < result.steps else "eval",
                                 "loss_manual": error.manual, "loss_torch": error.torch, "abs_diff": error.max_abs,
                                 "allowed": float(tolerance.allowed(np.float64(error.torch)))})
    return {"settings": {"cases": CASES, "dtypes": DTYPES, "quick": quick}, "checks": checks, "rows": rows}


def _floor(rows) -> float:
    """Where exact zeros are drawn: a decade below the smallest nonzero difference (log axes have no 0)."""
    nonzero = [r["abs_diff"] for r in rows if r["abs_diff"] > 0]
    return 10.0 ** (np.floor(np.log10(min(nonzero, default=1e-16))) - 1)


def draw(data: dict):
    rows = data["rows"]
    floor = _floor(rows)
    figure = new_figure(13, 6.4)
    axes = figure.subplots(2, len(CASES), sharex="col", height_ratios=[3, 2])
    for column_index, (title, name) in enumerate(CASES.items()):
        top, bottom = axes[0, column_index], axes[1, column_index]
        ref = select(rows, case=name, dtype="float64")
        steps = column(ref, "step")
        top.plot(steps, column(ref, "loss_torch"), "-", color="C0", lw=1.5, label="torch")
        top.plot(steps, column(ref, "loss_manual"), "o", color="C3", ms=3.5, mfc="none", label="manual")
        top.set_title(title, fontsize=10)
        for dtype in DTYPES:
            part = select(rows, case=name, dtype=dtype)
            steps, diff = column(part, "step"), column(part, "abs_diff")
            color = COLORS[dtype]
            bottom.plot(steps[diff > 0], diff[diff > 0], ".", color=color, ms=5, label=f"{dtype} |manual - torch|")
            bottom.plot(steps[diff == 0], np.full((diff == 0).sum(), floor), "v", color=color, ms=4, mfc="none",
                        label=f"{dtype} exactly 0 (drawn at {floor:.0e})")
            bottom.plot(steps, column(part, "allowed"), "--", color=color, lw=1, label=f"{dtype} tolerance")
        evals = [r["step"] for r in ref if r["phase"] == "eval"]
        if evals:  # the BatchNorm case ends with batches in eval mode (running statistics, no optimizer step)
            for ax in (top, bottom):
                ax.axvspan(min(evals) - 0.5, max(evals) + 0.5, color="0.9", zorder=0)
            top.text((min(evals) + max(evals)) / 2, 0.98, "eval\nmode", transform=top.get_xaxis_transform(),
                     fontsize=8, ha="center", va="top", color="0.4")
        bottom.set_yscale("log")
        bottom.set_xlabel("step (a new batch at every step)")
    axes[0, 0].set_ylabel("cross-entropy loss (float64)")
    axes[1, 0].set_ylabel("|loss manual - loss torch|")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    figure.suptitle("Loss per step, manual vs torch (top: float64; float32 curves coincide at this scale). "
                    "float32 steps start from torch's state, as in the harness", fontsize=11)
    return figure
