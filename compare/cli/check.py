"""`python -m compare [check]`: run the catalogue on both backends and print the report."""
import difflib
import signal
import sys
import time

import torch

from compare.cli import arguments, report
from compare.catalogue import training_cases
from compare.engine.step_loop import run_case


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def add_arguments(parser) -> None:
    parser.add_argument("--json", metavar="PATH", type=arguments.output_file,
                        help="also write the full report as JSON (only when the run completes)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="one device (default: cpu, and cuda when present)")
    parser.add_argument("--dtype", choices=list(training_cases.DTYPES), help="one dtype (default: both)")
    parser.add_argument("--steps", type=arguments.positive_int, help="steps per case (default: each case's own)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--only", metavar="SUBSTRING", help="only cases whose name contains SUBSTRING")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time went: manual's steps, torch's steps, the harness's own work")
    parser.add_argument("--threads", type=arguments.threads(allow_default=True), default=1,
                        help="torch CPU threads (default 1: the catalogue's models are tiny, and torch's default "
                             "multi-threading made its ms/step 10-40x slower on a busy 2-core machine; 0 keeps "
                             "torch's default)")


def selected_cases(only: str | None) -> list:
    """The catalogue's cases whose name contains `only`; refuses a filter that selects none."""
    selected = training_cases.select(only)
    if not selected:
        names = [case.name for case in training_cases.CATALOGUE]
        close = difflib.get_close_matches(only, names, n=3, cutoff=0.5)
        raise arguments.UsageError(f"--only {only!r} matches no case of the {len(names)} in the catalogue"
                                   + (f"; close: {', '.join(close)}" if close else "; --list shows them"))
    return selected


def main(args) -> int:
    start, imports = time.perf_counter(), time.process_time()  # the process's CPU time so far: start-up, imports
    selected = selected_cases(args.only)
    if args.list:
        for case in selected:
            print(f"{case.name:45s} {case.model[0]} + {case.loss[0]} + {case.optimizer[0]} {case.optimizer[1]}")
        return 0
    arguments.require_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # keep float32 on the GPU a true float32 comparison
    torch.backends.cudnn.allow_tf32 = False
    devices = [args.device] if args.device else available_devices()
    runs = [(case, dtype, device) for case in selected for dtype in ([args.dtype] if args.dtype else case.dtypes)
            for device in devices]
    results = []
    try:
        for case, dtype, device in runs:
            results.append(run_case(case, dtype, device, args.steps, args.seed))
            print(f"  {case.name} [{dtype}, {device}] {'PASS' if results[-1].passed else 'FAIL'}",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:  # Ctrl-C: report what finished, claim nothing about the rest
        if results:
            print(report.table(results))
        print(f"INTERRUPTED after {len(results)} of {len(runs)} case runs: the rows above are the finished ones"
              + ("; no JSON written" if args.json else ""), flush=True)
        return 128 + signal.SIGINT
    print(report.table(results))
    if args.profile:
        print(report.profile(results, time.perf_counter() - start, imports, time.process_time() - imports))
    if args.json:
        report.write_json(results, args.json)
    return 0 if all(r.passed for r in results) else 1
