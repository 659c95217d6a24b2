"""What every figure shares: matplotlib loaded lazily (headless Agg canvas), the JSON data file, and the
manual-vs-torch verdict over a figure's data.

A figure's data is {"settings": {...}, "checks": [...], "rows": [{...}, ...]}: `checks` are the harness's
verdicts on the training runs behind the figure (each {"run", "passed", ...}); in `rows`, every quantity both
backends compute sits as a pair of columns `<quantity>_manual` / `<quantity>_torch` beside the row's `dtype`, so
one function (`worst_error`) judges any figure against compare/engine/tolerances.py. The JSON file holds the rows
column by column ({"columns": {name: [values]}}), which keeps the names out of every row. Both files are written
atomically (manual.atomic): a figure interrupted while writing leaves the previous files as they were.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from compare.engine.comparison import compare_arrays
from compare.engine.error_table import TensorError
from manual.atomic import atomic_write

DPI = 96


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot, no GUI backend, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path) -> None:
    """The figure as a 256-colour PNG (Pillow ships with matplotlib): a third of the size of RGBA, the same look."""
    from PIL import Image

    figure.set_dpi(DPI)
    figure.canvas.draw()
    image = Image.frombuffer("RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba()).convert("RGB")
    image = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic_write(path) as file:
        image.save(file, format="PNG", optimize=True)


def write_json(data: dict, path) -> None:
    rows = data["rows"]
    columns = {key: [row[key] for row in rows] for key in (rows[0] if rows else {})}
    with atomic_write(path, "w") as f:
        json.dump({**{k: v for k, v in data.items() if k != "rows"}, "columns": columns}, f, separators=(",", ":"))
        f.write("\n")


def column_pairs(rows: list[dict]) -> list[str]:
    """The quantities q that the rows hold for both backends (`q_manual` and `q_torch`)."""
    keys = rows[0].keys() if rows else ()
    return [key.removesuffix("_manual") for key in keys
            if key.endswith("_manual") and key.removesuffix("_manual") + "_torch" in keys]


def worst_error(rows: list[dict], tolerance_for) -> TensorError | None:
    """The worst manual-vs-torch element over every column pair, each row judged with `tolerance_for(row dtype)`
    (ratio > 1 fails); None when the rows hold no pair."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["dtype"]].append(row)
    errors = [compare_arrays(0, quantity, np.array([r[f"{quantity}_manual"] for r in group], dtype=np.float64),
                             np.array([r[f"{quantity}_torch"] for r in group], dtype=np.float64),
                             tolerance_for(dtype))
              for dtype, group in groups.items() for quantity in column_pairs(group)]
    return max(errors, key=lambda e: e.ratio, default=None)


def select(rows: list[dict], **where) -> list[dict]:
    return [row for row in rows if all(row[key] == value for key, value in where.items())]


def column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([row[key] for row in rows], dtype=np.float64)
