"""`python -m compare [check]`: run the catalogue on both backends and print the report."""
import sys
import time

import torch

from compare import cases, report
from compare.harness import run_case


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def add_arguments(parser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="one device (default: cpu, and cuda when present)")
    parser.add_argument("--dtype", choices=list(cases.DTYPES), help="one dtype (default: both)")
    parser.add_argument("--steps", type=int, help="steps per case (default: each case's own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", metavar="SUBSTRING", help="only cases whose name contains SUBSTRING")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time went: manual's steps, torch's steps, the harness's own work")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the catalogue's models are tiny, and torch's default "
                             "multi-threading made its ms/step 10-40x slower on a busy 2-core machine; 0 keeps "
                             "torch's default)")


def main(args) -> int:
    start = time.perf_counter()
    selected = cases.select(args.only)
    if args.list:
        for case in selected:
            print(f"{case.name:45s} {case.model[0]} + {case.loss[0]} + {case.optimizer[0]} {case.optimizer[1]}")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # keep float32 on the GPU a true float32 comparison
    torch.backends.cudnn.allow_tf32 = False
    devices = [args.device] if args.device else available_devices()
    results = []
    for case in selected:
        for dtype in ([args.dtype] if args.dtype else case.dtypes):
            for device in devices:
                results.append(run_case(case, dtype, device, args.steps, args.seed))
                print(f"  {case.name} [{dtype}, {device}] {'PASS' if results[-1].passed else 'FAIL'}",
                      file=sys.stderr, flush=True)
    print(report.table(results))
    if args.profile:
        print(report.profile(results, time.perf_counter() - start))
    if args.json:
        report.write_json(results, args.json)
    return 0 if all(r.passed for r in results) else 1
