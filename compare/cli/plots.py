"""`python -m compare plots --out DIR`: the project's pictures, drawn from its own computations on both backends.

Each figure is a module with `compute(quick) -> data` (both backends, no matplotlib), `draw(data) -> Figure`
and `TOLERANCE` (the compare/engine/tolerances.py function its data is judged with); compare/plots/common.py says what
the data holds. For each figure the command writes DIR/NAME.png and DIR/NAME.json and prints how close the two
backends are. Exit status: 0 when every figure's data agrees within tolerance and the harness runs behind it
pass, 1 when one does not, 2 when matplotlib (the optional extra `[plot]`) is missing.

The figures are independent: with more than one to draw and `-j` above 1 (by default one per usable core), each
is drawn in a process of its own, at most `-j` at once (compare/workers/tasks.py), and its line is printed in the
figures' order, as in one process; a process that dies leaves its figure NOT DRAWN, naming the cause.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

from compare.cli import arguments
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
    parser.add_argument("-j", "--jobs", type=arguments.int_in(0, arguments.MAX_THREADS, name="jobs"), default=0,
                        help="processes drawing figures at once (default 0: one per usable core; 1: all in this "
                             "process)")


def main(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise missing_extra("plot", "drawing the figures") from None
    import torch  # here, not above: `plots --help` and a refused command line need no torch (1 s)

    from compare.workers import server, tasks

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(args.only or FIGURES))
    jobs = min(args.jobs or server.usable_cores(), len(names))
    verdicts: dict[str, bool | None] = {}  # None: not drawn (its process died)

    def done(index: int, result: tuple[list[str], bool | None]) -> None:
        lines, verdicts[names[index]] = result
        print("\n".join(lines), flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest, and steady on a busy machine
    try:
        if jobs == 1:
            for index, name in enumerate(names):
                done(index, figure((name, str(out), args.quick)))
        else:
            tasks.run_tasks("plots", [(name, str(out), args.quick) for name in names], jobs, figure, not_drawn, done)
    finally:
        torch.set_num_threads(threads)
    differ = [name for name, verdict in verdicts.items() if verdict is False]
    not_drawn_names = [name for name, verdict in verdicts.items() if verdict is None]
    print(f"{len(names) - len(differ) - len(not_drawn_names)} of {len(names)} figures agree between manual and torch"
          + (f"; DIFFER: {', '.join(differ)}" if differ else "")
          + (f"; NOT DRAWN: {', '.join(not_drawn_names)}" if not_drawn_names else ""))
    return 1 if differ or not_drawn_names else 0


def not_drawn(task: tuple[str, str, bool], cause: str) -> tuple[list[str], None]:
    """The result of a figure whose process ended before it said how its backends compare."""
    return [f"{task[0] + '.png':24s} NOT DRAWN: its process ended before it was drawn ({cause})"], None


def figure(task: tuple[str, str, bool]) -> tuple[list[str], bool]:
    """Compute, write and draw one figure (name, output folder, quick); its printed lines and whether its backends
    agree (in this process or in one of its own)."""
    from compare.plots.common import save_png, worst_error, write_json

    name, out, quick = task
    module = importlib.import_module(FIGURES[name])
    start = time.perf_counter()
    data = module.compute(quick=quick)
    write_json(data, Path(out) / f"{name}.json")
    save_png(module.draw(data), Path(out) / f"{name}.png")
    worst = worst_error(data["rows"], module.TOLERANCE)
    if worst is None:  # nothing compared cannot count as agreement
        return [f"{name + '.png':24s} DIFFER: its data holds no manual/torch pair to compare"], False
    checks = data.get("checks", [])
    failed_runs = [check["run"] for check in checks if not check["passed"]]
    verdict = "agree" if worst.passed else f"DIFFER at {worst.describe()}"
    runs = f"; {len(checks) - len(failed_runs)}/{len(checks)} harness runs pass" if checks else ""
    lines = [f"{name + '.png':24s} {verdict} (worst: {worst.name}, {100 * worst.ratio:.0f}% of tolerance, "
             f"{module.TOLERANCE.__name__}){runs}; {time.perf_counter() - start:.1f} s"]
    if failed_runs:
        lines.append(f"  harness mismatches in: {', '.join(failed_runs)}")
    return lines, worst.passed and not failed_runs
