"""`python -m compare [check]`: run the three catalogues on both backends (compare/checks/selection.py makes the runs,
compare/checks/main_job.py checks them: the training cases step by step, every module and loss alone three ways,
the extreme cases) and print the report: one text row per case run, its kind, the first and worst mismatch of each
failure, where a NaN/Inf first appeared, and (--json) the whole report as JSON. The runs go to `-j` worker processes
(compare/workers/pool.py); the report does not depend on how many.

torch and what checks a run (main_job, the pool, the step loop) are imported when a run starts: `--list`, `--help`
and a refused command line start without them (0.3 s of CPU against 1.6 s here)."""
from __future__ import annotations

import difflib
import json
import math
import signal
import sys
import time
from typing import TYPE_CHECKING

from compare import registry
from compare.catalogue import case_types
from compare.checks import selection
from compare.cli import arguments, render
from compare.engine.error_table import TensorError
from compare.workers import server
from manual.atomic import atomic_write

if TYPE_CHECKING:
    from compare.engine.step_loop import CaseResult
    from compare.workers.process import WorkerStats

COLUMNS = ("case", "kind", "dtype", "device", "steps", "loss err", "grad err", "param err", "tol used", "result",
           "ms/step manual", "ms/step torch")


def row(result: CaseResult) -> list[str]:
    ms_manual, ms_torch = result.ms_per_step()
    return [result.case, result.kind, result.dtype, result.device, str(result.steps),
            f"{result.worst_rel('output', 'loss'):.1e}", f"{result.worst_rel('grad.'):.1e}",
            f"{result.worst_rel('param.', 'buffer.', 'state.'):.1e}",
            f"{result.worst.ratio:.0%}" if result.worst else "-", "PASS" if result.passed else "FAIL",
            f"{ms_manual:.3f}", f"{ms_torch:.3f}"]


def table(results: list[CaseResult]) -> str:
    lines = [render.text(COLUMNS, [row(r) for r in results])]
    for result in results:
        if not result.passed:
            lines.append(f"FAIL {result.case} [{result.dtype}, {result.device}]")
            lines += [f"  error: {result.error}"] if result.error else []
            if result.kind == "training":
                lines.append(f"  which layer: python -m compare explain {result.case} --dtype {result.dtype}")
            lines += [f"  {which} mismatch: {error.describe()}" for which, error in
                      (("first", result.first_mismatch), ("worst", result.worst)) if error is not None]
    for result in results:
        non_finite = result.non_finite.describe()
        if non_finite:
            lines.append(f"NON-FINITE {result.case} [{result.dtype}, {result.device}]: {non_finite[0]}")
            lines += non_finite[1:]
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} of {len(results)} case runs passed. err = max|manual - torch| / max|torch| per tensor, "
                 "worst over steps; tol used = worst |manual - torch| / allowed over all elements, allowed = "
                 "1e-10|torch| + 1e-13 in float64; in float32 each step starts from torch's state and allowed = "
                 "4x torch's own float32 error against a float64 torch reference + 16 ulps of the tensor's "
                 "magnitude (compare/engine/tolerances.py)")
    return "\n".join(lines)


def timing(results: list[CaseResult], wall: float | None = None) -> dict:
    """Where the run's time went, in seconds: manual's steps, torch's steps, torch's one-time lazy import of
    torch._dynamo (startup), and the harness's own work (the float64 reference steps, the comparison, the float32
    resync, building the twins), summed over the case runs; `wall` (the whole check, as measured by the caller) adds
    what happened outside them (the report)."""
    from compare.engine.step_loop import TIMED

    parts = {part: sum(r.timing[part] for r in results) for part in TIMED}
    total = sum(r.timing["total"] for r in results)
    wall = total if wall is None else wall
    harness = wall - parts["manual"] - parts["torch"] - parts["startup"]
    return {"wall": wall, **parts, "outside_cases": wall - total, "harness": harness,
            "harness_share": harness / wall if wall > 0 else 0.0,
            "harness_share_with_startup": (harness + parts["startup"]) / wall if wall > 0 else 0.0,
            "reference_steps": sum(r.references for r in results), "steps": sum(r.steps for r in results)}


def profile(results: list[CaseResult], wall: float | None = None, imports: float | None = None,
            cpu: float | None = None) -> str:
    """The `timing` breakdown as text lines (`python -m compare --profile`); `imports`: the CPU seconds the process
    spent before the check began (interpreter start-up and imports), `cpu`: the check's own CPU seconds (wall time
    above it is other processes' load on the machine)."""
    t = timing(results, wall)
    lines = [f"time: {t['wall']:.2f} s over {len(results)} case runs, {t['steps']} steps (after imports)"]
    for part in ("manual", "torch", "startup", "harness"):
        lines.append(f"  {part:9s}{t[part]:7.2f} s  {t[part] / t['wall']:6.1%}" if t["wall"] else f"  {part}: 0")
    for part in ("reference", "compare", "resync", "build", "outside_cases"):
        lines.append(f"    {part:14s}{t[part]:7.2f} s" + (f"  ({t['reference_steps']} float64 reference steps)"
                                                             if part == "reference" else ""))
    lines.append(f"harness share: {t['harness_share']:.1%} of the time (everything but manual's and torch's steps "
                 f"and torch's start-up; {t['harness_share_with_startup']:.1%} with the start-up)")
    if imports is not None:
        whole = imports + t["wall"]
        lines.append(f"process: {imports:.2f} s of imports before the check (CPU) + {t['wall']:.2f} s of check = "
                     f"{whole:.2f} s; of it the harness {t['harness'] / whole:.1%}, torch's start-up "
                     f"{t['startup'] / whole:.1%}, the imports {imports / whole:.1%}"
                     + (f"; the check's CPU time {cpu:.2f} s" if cpu is not None else ""))
    return "\n".join(lines)


def _error_json(error: TensorError | None):
    if error is None:
        return None
    clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in vars(error).items()}
    clean["index"] = list(error.index)
    return clean


def to_json(results: list[CaseResult]) -> dict:
    """Per case: summary, first and worst mismatch, each tensor's worst error over all steps, and where NaN/Inf
    first appeared on each side and whether the sides agree (compare/engine/non_finite.py).

    Timing fields are the only ones that change between two runs with the same seed: each case's "timing" holds
    ms/step of each side and, in "seconds", where its time went (summed over cases by `timing`, printed by
    `python -m compare --profile`).
    """
    cases = []
    for result in results:
        per_tensor = result.table.worst_per_tensor()
        ms_manual, ms_torch = result.ms_per_step()
        cases.append({"case": result.case, "kind": result.kind, "dtype": result.dtype, "device": result.device,
                      "steps": result.steps, "error": result.error or None,
                      "passed": result.passed, "first_mismatch": _error_json(result.first_mismatch),
                      "worst": _error_json(result.worst),
                      "per_tensor": {name: _error_json(e) for name, e in per_tensor.items()},
                      "non_finite": result.non_finite.to_json(),
                      "timing": {"ms_per_step_manual": ms_manual, "ms_per_step_torch": ms_torch,
                                 "seconds": dict(result.timing), "reference_steps": result.references}})
    return {"passed": all(r.passed for r in results), "cases": cases}


def write_json(results: list[CaseResult], path: str) -> None:
    """Atomically (manual.atomic): an interrupted or failed write leaves the file at `path` as it was."""
    with atomic_write(path, "w") as f:
        json.dump(to_json(results), f, indent=1)

def available_devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def add_arguments(parser) -> None:
    parser.add_argument("--json", metavar="PATH", type=arguments.output_file,
                        help="also write the full report as JSON (only when the run completes)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="one device (default: cpu, and cuda when present)")
    parser.add_argument("--dtype", choices=list(case_types.DTYPES), help="one dtype (default: both)")
    parser.add_argument("--steps", type=arguments.positive_int, help="steps per case (default: each case's own)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--only", metavar="SUBSTRING", type=arguments.name("a part of a case name"),
                        help="only cases whose name contains SUBSTRING")
    parser.add_argument("--kind", nargs="+", choices=selection.KINDS, default=list(selection.KINDS),
                        help="only cases of these catalogues (default: all three)")
    parser.add_argument("--list", action="store_true", help="list the catalogues (name, kind, what it is) and exit")
    parser.add_argument("-j", "--jobs", type=arguments.int_in(0, arguments.MAX_THREADS, name="jobs"), default=0,
                        help="worker processes for the case runs (default 0: one per usable core; 1: none, all in "
                             "this process)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time went: manual's steps, torch's steps, the harness's own work")
    parser.add_argument("--threads", type=arguments.threads(allow_default=True), default=1,
                        help="torch CPU threads (default 1: the catalogue's models are tiny, and torch's default "
                             "multi-threading made its ms/step 10-40x slower on a busy 2-core machine; 0 keeps "
                             "torch's default)")


def selected_cases(only: str | None, kinds=selection.KINDS) -> list:
    """(kind, case) for the cases of the `kinds` catalogues whose name contains `only`; refuses a filter that
    selects none."""
    selected = selection.catalogue(only, kinds)
    if not selected:
        names = [case.name for _, case in selection.catalogue(None, kinds)]
        close = difflib.get_close_matches(only or "", names, n=3, cutoff=0.5)
        raise arguments.UsageError(f"--only {only!r} matches no case of the {len(names)} in the catalogues"
                                   + (f"; close: {', '.join(close)}" if close else "; --list shows them"))
    return selected


def describe(case) -> str:
    """What a case is, for --list."""
    if hasattr(case, "model"):
        return f"{case.model[0]} + {case.loss[0]} + {case.optimizer[0]} {case.optimizer[1]}"
    if hasattr(case, "optimizer"):
        return f"{case.optimizer} {case.kwargs} fed {case.gradient.__name__} gradients"
    module = getattr(case, "case", case).module
    return f"{module[0]} {module[1]}" if module[1] else module[0]


def done_line(result: CaseResult) -> str:
    return f"  {result.case} [{result.dtype}, {result.device}] {'PASS' if result.passed else 'FAIL'}"


def worker_processes(count: int) -> str:
    return f"{count} worker process" + ("" if count == 1 else "es")


def workers_profile(stats: list[WorkerStats]) -> str:
    """Per worker process (and this process, for the runs it checked while the workers started): its runs, its
    start-up and where its time went (the same parts as the total's)."""
    workers = sum(not process.here for process in stats)
    lines = [worker_processes(workers) + (" and this process:" if workers < len(stats) else ":")]
    for process in stats:
        s = process.seconds
        harness = s["total"] - s["manual"] - s["torch"] - s["startup"]
        start = "this process" if process.here else f"start-up {process.boot:.2f} s"
        lines.append(f"  pid {process.pid}: {process.runs} runs, {start}, checking "
                     f"{s['total']:.2f} s, {process.cpu:.2f} s of CPU (manual {s['manual']:.2f}, torch "
                     f"{s['torch']:.2f}, torch start-up {s['startup']:.2f}, harness {harness:.2f})")
    return "\n".join(lines)


def main(args) -> int:
    selected = selected_cases(args.only, args.kind)
    if args.list:
        for kind, case in selected:
            origin = registry.BUILT_IN if kind == "extreme" else registry.origin(case)  # no registered extremes
            print(f"{case.name:45s} {kind:9s} {describe(case)}  [{origin}]")
        return 0
    if args.steps is not None and not any(isinstance(case, case_types.Case) for _, case in selected):
        raise arguments.UsageError(f"--steps {args.steps}: only training cases (and the divergent extreme run) take "
                                   f"steps, and the {len(selected)} selected are module or extreme checks of their own "
                                   "length")
    import torch

    from compare.checks import main_job
    from compare.workers import pool

    start, imports = time.perf_counter(), time.process_time()  # the process's CPU time so far: start-up, imports
    arguments.require_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # keep float32 on the GPU a true float32 comparison
    torch.backends.cudnn.allow_tf32 = False
    devices = [args.device] if args.device else available_devices()
    runs = selection.plan(args.only, args.dtype, devices, args.kind)
    if not runs:
        raise arguments.UsageError(f"--only {args.only!r} --dtype {args.dtype}: no case runs in that dtype")
    jobs = args.jobs or server.usable_cores()
    finished: dict[int, CaseResult] = {}

    def done(index: int, result: CaseResult) -> None:
        finished[index] = result
        print(done_line(result), file=sys.stderr, flush=True)

    stats: list[WorkerStats] = []
    try:
        if jobs == 1 or "cuda" in devices:  # CUDA stays in this process: one context, no fork of it
            for index, run in enumerate(runs):
                done(index, main_job.execute_safely(run, args.steps, args.seed))
        else:
            stats = pool.run_all(runs, jobs, args.steps, args.seed, done,
                                 lambda run: main_job.execute_safely(run, args.steps, args.seed))
    except KeyboardInterrupt:  # Ctrl-C: report what finished, claim nothing about the rest
        results = [finished[index] for index in sorted(finished)]
        if results:
            print(table(results))
        print(f"INTERRUPTED after {len(results)} of {len(runs)} case runs: the rows above are the finished ones"
              + ("; no JSON written" if args.json else ""), flush=True)
        return 128 + signal.SIGINT
    results = [finished[index] for index in range(len(runs))]
    print(table(results))
    if args.profile:
        wall = time.perf_counter() - start
        if stats:  # the parts summed over the workers, then the wall time they took together, then each worker
            print(profile(results))
            print(f"wall: {wall:.2f} s with {worker_processes(sum(not s.here for s in stats))}, after {imports:.2f} s "
                  "of imports (CPU)")
            print(workers_profile(stats))
        else:
            print(profile(results, wall, imports, time.process_time() - imports))
    if args.json:
        write_json(results, args.json)
    return 0 if all(r.passed for r in results) else 1
