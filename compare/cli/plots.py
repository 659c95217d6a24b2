"""`python -m compare plots --out DIR`: the project's pictures, drawn from its own computations on both backends.

Each figure is a module with `compute(quick) -> data` (both backends, no matplotlib), `draw(data) -> Figure`
and `TOLERANCE` (the compare/engine/tolerances.py function its data is judged with); compare/plots/common.py says what
the data holds. For each figure the command writes DIR/NAME.png and DIR/NAME.json and prints how close the two
backends are. Exit status: 0 when every figure's data agrees within tolerance and the harness runs behind it
pass, 1 when one does not, 2 when matplotlib (the optional extra `[plot]`) is missing.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

from compare.cli.arguments import missing_extra, output_dir

FIGURES = {  # file name -> module
    "loss_curves": "compare.plots.loss_curves",
    "vanishing_gradients": "compare.plots.vanishing_gradients",
    "optimizer_paths": "compare.plots.optimizer_paths",
    "activations": "compare.plots.activations",
    "xor": "compare.plots.xor",
    "cv_folds": "compare.plots.cv_folds",
    "attention_map": "compare.plots.attention_map",
}


def add_arguments(parser) -> None:
    parser.add_argument("--out", metavar="DIR", required=True, type=output_dir,
                        help="where to write NAME.png and NAME.json (created if missing)")
    parser.add_argument("--only", choices=list(FIGURES), action="append", help="one figure (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (fewer steps, epochs and points): the same checks in a few seconds")


def main(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise missing_extra("plot", "drawing the figures") from None
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(args.only or FIGURES))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest, and steady on a busy machine
    try:
        failed = [name for name in names if not _figure(name, out, args.quick)]
    finally:
        torch.set_num_threads(threads)
    print(f"{len(names) - len(failed)} of {len(names)} figures agree between manual and torch"
          + (f"; DIFFER: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _figure(name: str, out: Path, quick: bool) -> bool:
    """Compute, write and draw one figure; print and return whether its backends agree."""
    from compare.plots.common import save_png, worst_error, write_json

    module = importlib.import_module(FIGURES[name])
    start = time.perf_counter()
    data = module.compute(quick=quick)
    write_json(data, out / f"{name}.json")
    save_png(module.draw(data), out / f"{name}.png")
    worst = worst_error(data["rows"], module.TOLERANCE)
    if worst is None:  # nothing compared cannot count as agreement
        print(f"{name + '.png':24s} DIFFER: its data holds no manual/torch pair to compare", flush=True)
        return False
    checks = data.get("checks", [])
    failed_runs = [check["run"] for check in checks if not check["passed"]]
    verdict = "agree" if worst.passed else f"DIFFER at {worst.describe()}"
    runs = f"; {len(checks) - len(failed_runs)}/{len(checks)} harness runs pass" if checks else ""
    print(f"{name + '.png':24s} {verdict} (worst: {worst.name}, {100 * worst.ratio:.0f}% of tolerance, "
          f"{module.TOLERANCE.__name__}){runs}; {time.perf_counter() - start:.1f} s", flush=True)
    if failed_runs:
        print(f"  harness mismatches in: {', '.join(failed_runs)}", flush=True)
    return worst.passed and not failed_runs
