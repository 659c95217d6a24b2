"""`explain --plot PATH`: each tensor's error divided by its bound (the report's "tol used", |manual - torch| /
allowed, compare/engine/tolerances.py), step by step, on a log scale. A wrong formula jumps above 1 at once and
stays there; rounding drifts up slowly from far below. The tensors that ever exceed their bound are drawn in
colour and named; the rest are grey. matplotlib is the optional extra `plot`."""
from __future__ import annotations

import io

import numpy as np

from compare.engine.step_loop import CaseResult
from manual.atomic import atomic_write

FLOOR = 1e-8  # ratios below this (exact agreement: 0) are drawn at it, so the log scale has them
NAMED = 8  # at most this many failing tensors get a colour and a legend entry


def series(result: CaseResult) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tensor name -> (steps, error / bound) over the run."""
    found: dict[str, tuple[list, list]] = {}
    for error in result.errors:
        steps, ratios = found.setdefault(error.name.split(" (")[0], ([], []))
        steps.append(error.step)
        ratios.append(error.ratio)
    return {name: (np.array(s), np.array(r, dtype=float)) for name, (s, r) in found.items()}


def draw(result: CaseResult, path: str) -> list[str]:
    """Write the figure to `path` (PNG, atomically); returns the failing tensors it names."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    lines = series(result)
    failing = sorted((name for name, (_, r) in lines.items() if np.nanmax(r, initial=0) > 1),
                     key=lambda name: int(np.argmax(lines[name][1] > 1)))
    figure, axes = plt.subplots(figsize=(9, 5))
    for name, (steps, ratios) in lines.items():
        if name not in failing[:NAMED]:
            axes.plot(steps, np.clip(ratios, FLOOR, None), color="0.75", linewidth=0.7)
    for name in failing[:NAMED]:
        steps, ratios = lines[name]
        axes.plot(steps, np.clip(ratios, FLOOR, None), linewidth=1.6, label=name)
    axes.axhline(1.0, color="black", linestyle="--", linewidth=1, label="bound (error = allowed)")
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("|manual - torch| / allowed (worst element)")
    axes.set_title(f"{result.case} [{result.dtype}]: {len(failing)} of {len(lines)} tensors beyond their bound")
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    with atomic_write(path) as file:
        file.write(buffer.getvalue())
    return failing
