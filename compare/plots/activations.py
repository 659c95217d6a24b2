"""Figure 4: every activation of manual.models.ACTIVATIONS and its hand-derived derivative, with torch autograd's.

Both backends get the same input, a column of x values beside a column of zeros, X = [x, 0] (N, 2), and the
upstream gradient G = [1, 0] in every row. For an elementwise f the first column gives f(x) and, from backward,
dL/dx = G ⊙ f'(x) = f'(x) (grad_output = 1); for softmax (along the row) it gives y₀ = softmax([x, 0])₀ = σ(x)
and dL/dx₀ = Σᵢ Gᵢ ∂yᵢ/∂x₀ = ∂y₀/∂x₀ = σ(x)(1 - σ(x)), the Jacobian's diagonal entry (log_softmax likewise:
log σ(x) and 1 - σ(x)). manual: the module's forward, then its backward (manual.nn.functional's `*_backward`);
torch: the same module from torch_ref.models.ACTIVATIONS, then autograd.
"""
from __future__ import annotations

import numpy as np
import torch

import manual.models
import torch_ref.models
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import to_numpy
from compare.plots.common import column, new_figure, select

DTYPE = "float64"
X_RANGE = (-4.0, 4.0)
TOLERANCE = tolerance_for


def _manual(name: str, X: np.ndarray, G: np.ndarray):
    module = manual.models.ACTIVATIONS[name]()
    return module(X), module.backward(G)


def _torch(name: str, X: np.ndarray, G: np.ndarray):
    module = torch_ref.models.ACTIVATIONS[name]()
    x = torch.from_numpy(X).requires_grad_(True)
    y = module(x)
    y.backward(torch.from_numpy(G))
    return to_numpy(y), to_numpy(x.grad)


def compute(quick: bool = False) -> dict:
    x = np.linspace(*X_RANGE, 41 if quick else 161, dtype=DTYPE)  # an odd count holds x = 0
    X = np.stack([x, np.zeros_like(x)], axis=1)
    G = np.tile(np.array([1.0, 0.0], dtype=DTYPE), (len(x), 1))
    rows = []
    for name in manual.models.ACTIVATIONS:
        (y_m, d_m), (y_t, d_t) = _manual(name, X.copy(), G.copy()), _torch(name, X.copy(), G.copy())
        rows += [{"activation": name, "dtype": DTYPE, "x": float(x[i]), "f_manual": float(y_m[i, 0]),
                  "f_torch": float(y_t[i, 0]), "df_manual": float(d_m[i, 0]), "df_torch": float(d_t[i, 0])}
                 for i in range(len(x))]
    return {"settings": {"activations": list(manual.models.ACTIVATIONS), "points": len(x), "dtype": DTYPE,
                         "quick": quick}, "rows": rows}


TITLES = {"leaky_relu": "leaky_relu (slope 0.01)", "gelu_tanh": "gelu (tanh approx.)",
          "softmax": "softmax([x, 0])₀", "log_softmax": "log_softmax([x, 0])₀"}


def draw(data: dict):
    rows, settings = data["rows"], data["settings"]
    names = settings["activations"]
    cols = 5
    figure = new_figure(14, 7.8)
    axes = figure.subplots((len(names) + cols) // cols, cols).ravel()
    every = max(1, settings["points"] // 32)
    for ax, name in zip(axes, names, strict=False):  # the grid has spare panels (the legend's, then blank ones)
        part = select(rows, activation=name)
        x = column(part, "x")
        ax.plot(x, column(part, "f_manual"), "-", color="0.55", lw=2, label="f(x), manual forward")
        ax.plot(x, column(part, "df_torch"), "-", color="C0", lw=1.5, label="f'(x), torch autograd")
        ax.plot(x, column(part, "df_manual"), "o", color="C3", ms=3.5, mfc="none", markevery=every,
                label="f'(x), manual hand-derived backward")
        ax.axhline(0, color="0.8", lw=0.6, zorder=0)
        ax.axvline(0, color="0.8", lw=0.6, zorder=0)
        ax.set_title(TITLES.get(name, name), fontsize=10)
        ax.set_ylim(max(ax.get_ylim()[0], -2.5), min(ax.get_ylim()[1], 4.5))
    for ax in axes[len(names):]:
        ax.axis("off")
    axes[len(names)].legend(*axes[0].get_legend_handles_labels(), loc="center", fontsize=9)
    for ax in axes[len(names) - cols:len(names)]:  # the lowest panel of each column
        ax.set_xlabel("x")
    figure.suptitle(f"Activations and their derivatives on {X_RANGE[0]:g} ≤ x ≤ {X_RANGE[1]:g} ({settings['dtype']}, "
                    f"{settings['points']} points; circles every {every}th point; kinks at x = 0 take torch's value)",
                    fontsize=11)
    return figure
