"""`python -m compare kernels`: the check under every CPU kernel setting torch and NumPy can be forced to.

The float32 bounds must not depend on which vector kernels run. torch picks its kernels by CPU capability at
start-up (ATEN_CPU_CAPABILITY=default / avx2 / avx512; unset: the machine's best), NumPy's OpenBLAS by its core
type (OPENBLAS_CORETYPE; unset: the machine's). Both are read when the libraries load, so each setting runs in
its own process (the settings: compare/engine/kernels.py):
    python -m compare kernels                  the whole catalogue (`python -m compare --json`) per setting
    python -m compare kernels --cases A B ...  only these cases, both dtypes (tests/cli/test_kernels.py)
    python -m compare kernels --pytest ARGS    `python -m pytest ARGS` per setting instead
It prints, per setting, the kernels in use, whether everything passed, and the worst "tol used" per dtype. Each
setting's check runs its cases on `-j` worker processes (compare/workers/pool.py; they inherit the setting's
environment); with stderr a terminal, a progress line per setting as it finishes (--quiet: none).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from compare.catalogue import training_cases
from compare.cli import arguments, check, render
from compare.cli.arguments import UsageError
from compare.engine.kernels import SETTINGS, environment
from compare.workers import server


def summary(report: dict) -> dict:
    """passed, and per dtype the worst tol used and where, from a `python -m compare --json` report."""
    worst: dict[str, tuple[float, str, str | None]] = {}
    for case in report["cases"]:
        ratio = float(case["worst"]["ratio"]) if case["worst"] else 0.0
        if case["dtype"] not in worst or ratio > worst[case["dtype"]][0]:
            worst[case["dtype"]] = (ratio, case["case"], case["worst"]["name"] if case["worst"] else None)
    return {"passed": report["passed"], "runs": len(report["cases"]), "worst": worst}


def run_setting(setting: str, cases: list[str] | None = None, jobs: int = 1) -> dict:
    """The check under `setting` in a child process (its cases on `jobs` workers): its summary plus the kernels it
    ran on."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.json")
        command = [sys.executable, "-m", "compare", "kernels", "--child", path, "--jobs", str(jobs),
                   *(["--cases", *cases] if cases else [])]
        done = subprocess.run(command, env=environment(setting), capture_output=True, text=True)
        if done.returncode not in (0, 1) or not os.path.exists(path):
            raise RuntimeError(f"{setting}: {' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        with open(path) as f:
            child = json.load(f)
    return {"setting": setting, "kernels": child["kernels"], **summary(child["report"])}


def selected_cases(names: list[str] | None) -> list:
    """The catalogue's cases named (default: all); refuses a name the catalogue lacks."""
    if not names:
        return training_cases.CATALOGUE
    known = {case.name: case for case in training_cases.CATALOGUE}
    missing = [name for name in names if name not in known]
    if missing:
        raise UsageError(f"--cases: no case named {', '.join(map(repr, missing))} in the catalogue "
                         "(`python -m compare --list` shows them)")
    return [known[name] for name in dict.fromkeys(names)]


def _child(path: str, names: list[str] | None, jobs: int) -> int:
    """Run the cases (default: the whole catalogue, both dtypes) as `python -m compare` does; write the report.
    Only the child imports torch and the check: the command's own process starts the children and reads their
    reports (its `--help` and refusals take 0.2 s, not 1.2)."""
    import torch

    from compare.checks import main_job, selection
    from compare.engine.kernels import kernels_in_use
    from compare.engine.step_loop import CaseResult
    from compare.workers import pool

    runs = [selection.Run("training", case, dtype, "cpu") for case in selected_cases(names) for dtype in case.dtypes]
    torch.set_num_threads(1)
    finished: dict[int, CaseResult] = {}
    if jobs == 1:
        for index, run in enumerate(runs):
            finished[index] = main_job.execute_safely(run)
    else:
        pool.run_all(runs, jobs, None, 0, finished.__setitem__, main_job.execute_safely)
    results = [finished[index] for index in range(len(runs))]
    with open(path, "w") as f:
        json.dump({"kernels": kernels_in_use(), "report": check.to_json(results)}, f)
    return 0 if all(r.passed for r in results) else 1


def add_arguments(parser) -> None:
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these catalogue cases (both dtypes)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                        help=f"the kernel settings to run under (default: all of {', '.join(SETTINGS)})")
    parser.add_argument("--pytest", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="run `python -m pytest ARGS` per setting instead of the catalogue")
    parser.add_argument("-j", "--jobs", type=arguments.int_in(0, arguments.MAX_THREADS, name="jobs"), default=0,
                        help="worker processes per setting (default 0: one per usable core)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr (they are printed only when it is a terminal)")
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)


# pytest's exit statuses that say the arguments cannot mean a run (pytest.ExitCode.USAGE_ERROR, NO_TESTS_COLLECTED)
PYTEST_REFUSALS = {4: "refused the arguments", 5: "collected no test from them"}


def main(args) -> int:
    jobs = args.jobs or server.usable_cores()
    if args.child:
        return _child(args.child, args.cases, jobs)
    if args.cases and args.pytest is not None:
        raise UsageError("--cases selects catalogue cases; with --pytest, select tests in the pytest arguments")
    selected_cases(args.cases)  # refused here, before any child starts
    failed = False
    finished = render.Finished(args.quiet)
    settings = list(dict.fromkeys(args.settings))
    for number, setting in enumerate(settings, 1):
        if args.pytest is not None:
            code = subprocess.run([sys.executable, "-m", "pytest", *args.pytest], env=environment(setting)).returncode
            if code in PYTEST_REFUSALS:  # the same under every setting: not a failure of this one
                raise UsageError(f"--pytest {' '.join(args.pytest)}: pytest {PYTEST_REFUSALS[code]} (exit {code}) "
                                 f"under {setting}; no other setting was run")
            print(f"{setting:18s} pytest {' '.join(args.pytest)}: exit {code}", flush=True)
            failed |= code != 0
            finished(f"setting {number} of {len(settings)} ({setting}) done")
            continue
        found = run_setting(setting, args.cases, jobs)
        worst = "; ".join(f"{dtype} {ratio:.0%} ({case}, {name})"
                          for dtype, (ratio, case, name) in sorted(found["worst"].items()))
        print(f"{setting:18s} {'PASS' if found['passed'] else 'FAIL'} {found['runs']} runs; kernels "
              f"{found['kernels']}; worst tol used: {worst}", flush=True)
        failed |= not found["passed"]
        finished(f"setting {number} of {len(settings)} ({setting}) done")
    return 1 if failed else 0

