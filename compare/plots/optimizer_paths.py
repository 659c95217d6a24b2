"""Figure 3: optimizer paths on the contours of two 2-D losses (a quadratic bowl and Rosenbrock), manual and torch.

The paths are compare.checks.optimizer_paths's: manual.optim stepping with the hand-derived gradient of the surface, torch.optim
with autograd's gradient of the same expression, from the same start, every point kept (float64, free-running);
they are judged with the update-rule tolerance, as tests/checks/test_paths.py judges them.
"""
from __future__ import annotations

import numpy as np

from compare.checks.optimizer_paths import PATH_OPTIMIZERS, SURFACES, manual_path, torch_path
from compare.engine.tolerances import update_rule_tolerance_for
from compare.plots.common import column, new_figure, select

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")  # labels in compare.checks.optimizer_paths
COLORS = dict(zip(OPTIMIZERS, ("C0", "C1", "C2", "C3", "C4", "C5"), strict=True))
# surface -> (title, x range, y range, contour levels)
VIEWS = {
    "quadratic_bowl": ("quadratic bowl f = (x² + 10y²)/2", (-4.5, 2.0), (-1.5, 2.0), (0.1, 0.5, 2, 5, 10, 20)),
    "rosenbrock": ("Rosenbrock f = (1 - x)² + 100(y - x²)²", (-2.0, 1.5), (-0.5, 3.2),
                   (0.25, 1, 4, 16, 64, 256, 1024)),
}
DTYPE = "float64"
TOLERANCE = update_rule_tolerance_for


def compute(quick: bool = False) -> dict:
    rows, steps = [], {}
    for surface in SURFACES:
        steps[surface] = 30 if quick else SURFACES[surface].steps
        for label in OPTIMIZERS:
            points = manual_path(surface, label, steps[surface], DTYPE)
            reference = torch_path(surface, label, steps[surface], DTYPE)
            rows += [{"surface": surface, "optimizer": label, "dtype": DTYPE, "step": step,
                      "x_manual": float(m[0]), "y_manual": float(m[1]), "x_torch": float(t[0]), "y_torch": float(t[1])}
                     for step, (m, t) in enumerate(zip(points, reference, strict=True))]
    settings = {"steps": steps, "optimizers": {s: {label: PATH_OPTIMIZERS[s][label] for label in OPTIMIZERS}
                                               for s in SURFACES}, "dtype": DTYPE, "quick": quick}
    return {"settings": settings, "rows": rows}


def _describe(label: str, name: str, kwargs: dict) -> str:
    call = f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    return call if label.lower() == name.lower() else f"{label}: {call}"


def draw(data: dict):
    rows, settings = data["rows"], data["settings"]
    figure = new_figure(13, 6.6)
    axes = figure.subplots(1, len(VIEWS))
    for ax, (surface, (title, xlim, ylim, levels)) in zip(axes, VIEWS.items(), strict=True):
        spec = SURFACES[surface]
        grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
        contours = ax.contour(grid_x, grid_y, spec.value(grid_x, grid_y), levels=levels, colors="0.6",
                              linewidths=0.7)
        ax.clabel(contours, fontsize=6, fmt="%g")
        steps = settings["steps"][surface]
        every = max(1, steps // 25)
        for label in OPTIMIZERS:
            path = select(rows, surface=surface, optimizer=label)
            name, kwargs = settings["optimizers"][surface][label]
            ax.plot(column(path, "x_torch"), column(path, "y_torch"), "-", color=COLORS[label], lw=1.4,
                    label=_describe(label, name, kwargs))
            ax.plot(column(path, "x_manual"), column(path, "y_manual"), "o", color=COLORS[label], ms=4,
                    mfc="none", markevery=every)
        ax.plot(*spec.start, "ks", ms=6)
        ax.annotate("start", spec.start, textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.plot(*spec.minimum, "k*", ms=11)
        ax.annotate("minimum", spec.minimum, textcoords="offset points", xytext=(6, -12), fontsize=8)
        ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y")
        ax.set_title(f"{title}\n{steps} steps; circles at every {every}th point" if every > 1 else
                     f"{title}\n{steps} steps; circles at every point", fontsize=10)
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    figure.suptitle(f"Optimizer paths from the same start ({settings['dtype']}). Lines: torch.optim with autograd's "
                    "gradient; circles: manual.optim with the hand-derived gradient", fontsize=11)
    return figure
