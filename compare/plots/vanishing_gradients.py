"""Figure 2: vanishing gradients. ‖dL/dW‖ of each of the 10 Linear weights of a deep MLP, at initialisation and
after training, for sigmoid, tanh, ReLU and sigmoid + BatchNorm, from both backends.

Backprop multiplies the gradient, layer by layer from the output down, by Wᵀ and by the activation's derivative;
σ' ≤ 1/4 shrinks it at every sigmoid layer, tanh' ≤ 1 less so, ReLU' ∈ {0, 1} not at all (what remains is the
weights' scale: torch's default init U(±1/√fan_in) has variance 1/(3·fan_in), below He's 2/fan_in, so ReLU
signals shrink too), and BatchNorm re-scales every layer's input to unit variance, which keeps σ near its
steepest point. The twins train with the harness (compare.engine.step_loop.run_twins), every step compared; the norms
are taken from each backend's own .grad after the first step (the gradient at initialisation) and after the
last (the gradient at the weights after `steps` updates).
"""
from __future__ import annotations

import numpy as np

from compare.catalogue.batches import Batches
from compare.catalogue.case_types import Case
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import build_twins, to_numpy
from compare.plots.common import column, new_figure, select

IN_FEATURES, WIDTH, DEPTH, CLASSES = 8, 32, 10, 3  # DEPTH Linear layers: DEPTH - 1 hidden blocks, then the output
DATA = Batches("classification", in_features=IN_FEATURES, targets=CLASSES, batch_size=64)
OPTIMIZER = ("SGD", {"lr": 0.1})
DTYPE = "float64"
NETWORKS: dict[str, dict[str, object]] = {  # label -> MLP options
    "sigmoid": {"activation": "sigmoid"},
    "tanh": {"activation": "tanh"},
    "ReLU": {"activation": "relu"},
    "sigmoid + BatchNorm": {"activation": "sigmoid", "batch_norm": True},
}
COLORS = {"sigmoid": "C3", "tanh": "C1", "ReLU": "C0", "sigmoid + BatchNorm": "C2"}
TOLERANCE = tolerance_for


def _norms(torch_twin, manual_twin) -> list[tuple[str, float, float]]:
    """(parameter name, ‖grad‖ manual, ‖grad‖ torch) of every Linear weight (the 2-D parameters), input first."""
    manual_params = dict(manual_twin.model.named_parameters())
    return [(name, float(np.linalg.norm(manual_params[name].grad)), float(np.linalg.norm(to_numpy(param.grad))))
            for name, param in torch_twin.model.named_parameters() if param.ndim == 2]


def compute(quick: bool = False) -> dict:
    steps = 20 if quick else 200
    rows, checks = [], []
    for label, options in NETWORKS.items():
        model = ("MLP", {"in_features": IN_FEATURES, "hidden": [WIDTH] * (DEPTH - 1), "out_features": CLASSES,
                         **options})
        case = Case(f"mlp{DEPTH}x{WIDTH}-{label}", model, ("CrossEntropyLoss", {}), OPTIMIZER, DATA)
        torch_twin, manual_twin = build_twins(case, DTYPE, "cpu", seed=0)
        batches = DATA.stream(0, DTYPE)
        for stage, stage_steps in (("initialisation", 1), (f"after {steps} steps", steps)):
            result = run_twins(torch_twin, manual_twin, batches, stage_steps, DTYPE, "cpu", case.name)
            worst = result.worst
            assert worst is not None, "a run of at least one step compares tensors"
            checks.append({"run": f"{label}, {stage}", "steps": stage_steps, "passed": result.passed,
                           "worst": worst.describe()})
            rows += [{"network": label, "stage": stage, "dtype": DTYPE, "layer": layer, "parameter": name,
                      "grad_norm_manual": m, "grad_norm_torch": t}
                     for layer, (name, m, t) in enumerate(_norms(torch_twin, manual_twin), start=1)]
    settings = {"model": f"MLP {IN_FEATURES}-{'-'.join([str(WIDTH)] * (DEPTH - 1))}-{CLASSES}", "steps": steps,
                "optimizer": OPTIMIZER, "batch_size": DATA.batch_size, "dtype": DTYPE, "quick": quick}
    return {"settings": settings, "checks": checks, "rows": rows}


def draw(data: dict):
    rows, settings = data["rows"], data["settings"]
    figure = new_figure(11, 4.8)
    axes = figure.subplots(1, 2, sharey=True)
    for ax, stage in zip(axes, dict.fromkeys(r["stage"] for r in rows), strict=True):
        for label, color in COLORS.items():
            part = select(rows, network=label, stage=stage)
            layers = column(part, "layer")
            ax.plot(layers, column(part, "grad_norm_torch"), "-", color=color, lw=1.5, label=label)
            ax.plot(layers, column(part, "grad_norm_manual"), "o", color=color, ms=6, mfc="none")
        ax.set_yscale("log")
        ax.set_title(f"gradient at {stage}" if stage == "initialisation" else f"gradient {stage}", fontsize=10)
        ax.set_xlabel("Linear layer (1 = next to the input, 10 = output layer)")
        ax.set_xticks(range(1, DEPTH + 1))
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("‖dL/dW‖ (Frobenius norm of the weight's gradient)")
    from matplotlib.lines import Line2D

    handles, _ = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="k", lw=1.5, label="torch autograd"),
                Line2D([], [], color="k", marker="o", mfc="none", ls="none", label="manual backprop")]
    figure.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=9)
    sgd = ", ".join(f"{k}={v}" for k, v in settings["optimizer"][1].items())
    figure.suptitle(f"Vanishing gradients: {settings['model']} ({DEPTH} Linear layers), torch's default init, "
                    f"SGD({sgd}),\nbatch {settings['batch_size']}, {settings['dtype']}; every step compared between the "
                    "backends by the harness", fontsize=10)
    return figure
