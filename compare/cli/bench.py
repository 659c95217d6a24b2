"""`python -m compare bench`: time training steps of manual, torch (CPU, CUDA) and scikit-learn side by side,
against the machine's GEMM peak (compare/bench/timing.py says how), and print or write the report. torch and the
timing modules are imported when a run is planned: `bench --help` and a refused choice need neither (1 s)."""
from __future__ import annotations

import os
import sys

from compare.bench import report
from compare.bench.sizes import ABSENT_BECAUSE, BACKENDS, DEFAULT_SIZES, SIZES, runnable, skip_reason
from compare.bench.sklearn_peer import sklearn_available
from compare.cli import arguments, render
from manual.atomic import atomic_write


def add_arguments(parser) -> None:
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(DEFAULT_SIZES),
                        help=f"sizes to run (default: {' '.join(DEFAULT_SIZES)}; gpu-xl only with CUDA)")
    parser.add_argument("--dtype", nargs="+", choices=["float32", "float64"], default=["float32"])
    parser.add_argument("--threads", type=arguments.threads(allow_default=False), default=2,
                        help="threads for NumPy's BLAS and torch (default 2)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="default: all that are present")
    parser.add_argument("--gemm-n", type=arguments.positive_int, default=4096,
                        help="side of the GEMM-peak probe (default 4096)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--json", metavar="PATH", type=arguments.output_file,
                        help="also write every measurement as JSON")
    parser.add_argument("--markdown", metavar="PATH", type=arguments.output_file,
                        help="also write the report as Markdown (benches/RESULTS.md)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr (they are printed only when it is a terminal)")


def plan(args) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """(size -> the backends that run it, skipped sizes, absent backends) for the requested sizes and the
    backends present here; refuses a command line under which nothing would run."""
    import torch

    present = {"torch-cuda": torch.cuda.is_available(), "scikit-learn": sklearn_available()}
    backends = [b for b in dict.fromkeys(args.backends) if present.get(b, True)]
    absent = [b for b in dict.fromkeys(args.backends) if b not in backends]
    if not backends:
        raise arguments.UsageError(f"--backends {' '.join(args.backends)}: none of them is present here ("
                                   + "; ".join(f"{b}: {ABSENT_BECAUSE[b]}" for b in absent) + ")")
    needed, memory = 3 * 4 * args.gemm_n ** 2, _physical_memory()  # the probe's A, B and C in float32
    if memory and needed > memory:
        raise arguments.UsageError(f"--gemm-n {args.gemm_n}: the probe's three {args.gemm_n}x{args.gemm_n} float32 "
                                   f"matrices need {needed / 2 ** 30:.1f} GiB; this machine has "
                                   f"{memory / 2 ** 30:.1f} GiB")
    runs = {name: runnable(SIZES[name], backends) for name in dict.fromkeys(args.sizes)}
    skipped = [name for name, size_backends in runs.items() if not size_backends]
    if len(skipped) == len(runs):
        reasons = "; ".join(f"{name}: {skip_reason(SIZES[name], backends, absent)}" for name in skipped)
        raise arguments.UsageError(f"--sizes {' '.join(args.sizes)}: no size can run with the backends present "
                                   f"({', '.join(backends)}): {reasons}")
    return {name: size_backends for name, size_backends in runs.items() if size_backends}, skipped, absent


def _physical_memory() -> int:
    """Bytes of memory this machine has; 0 where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def command_line(args) -> str:
    """The command that reproduces this run (its options spelled out)."""
    words = ["python -m compare bench", "--sizes", *args.sizes, "--dtype", *args.dtype, "--threads", str(args.threads)]
    if list(args.backends) != list(BACKENDS):
        words += ["--backends", *args.backends]
    if args.gemm_n != 4096:
        words += ["--gemm-n", str(args.gemm_n)]
    words += [f"--{name} {getattr(args, name)}" for name in ("seed", "json", "markdown") if getattr(args, name)]
    return " ".join(words)


def main(args) -> int:
    import torch

    from compare.bench import machine, timing
    from compare.bench.gemm import GemmProbe

    runs, skipped, absent = plan(args)
    backends = list(dict.fromkeys(b for size_backends in runs.values() for b in size_backends))
    threads = machine.pin_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 on the GPU stays float32
    torch.backends.cudnn.allow_tf32 = False
    info = machine.describe(threads)
    load_before = os.getloadavg()
    print(machine_text(info), flush=True)  # the header, once: `text` below leaves it out
    probes = {"cpu": GemmProbe(args.gemm_n)}
    if "torch-cuda" in backends:
        probes["cuda"] = GemmProbe(8192, "cuda")
    for probe in probes.values():
        probe.sample()
    for name in skipped:
        print(f"  {name}: skipped, {skip_reason(SIZES[name], backends, absent)}", file=sys.stderr)
    results = []
    finished = render.Finished(args.quiet)
    for dtype in dict.fromkeys(args.dtype):
        for name, size_backends in runs.items():
            results.append(timing.bench_size(SIZES[name], dtype, size_backends, probes, args.seed))
            for backend, row in results[-1]["backends"].items():
                finished(f"{name} [{dtype}] {backend}: {row['ms_median']:.3f} ms/step")
    run = {"command": command_line(args), "machine": info,
           "skip_reasons": {name: skip_reason(SIZES[name], backends, absent) for name in skipped},
           "gemm": {device: {"n": probe.n, "samples_gflops": probe.samples} for device, probe in probes.items()},
           "load_average": {"before": load_before, "after": os.getloadavg()}, "backends_missing": absent,
           "absent_reasons": {b: ABSENT_BECAUSE[b] for b in absent},
           "sizes_skipped": sorted(set(skipped)), "results": results}
    report.add_ratios(run)
    print(text(run, header=False))
    if args.json:
        report.write_json(run, args.json)
    if args.markdown:
        write_markdown(run, args.markdown, timing.__doc__.split("\n", 2)[2])
    return 0


def machine_text(info: dict) -> str:
    return "\n".join(report.machine_lines(info))


def text(run: dict, header: bool = True) -> str:
    """The terminal report; `header=False` leaves out the machine lines (printed once, when the run started)."""
    tables = [render.text(report.BACKEND_HEADER, report.backend_rows(run)),
              render.text(report.RATIO_HEADER, report.ratio_rows(run)),
              render.text(report.TARGET_HEADER, report.target_rows(run))]
    parts = (report.machine_lines(run) if header else []) + report.peak_lines(run)
    for table in tables:
        parts += ["", table]
    return "\n".join(parts + [f"not measured here: {line}" for line in report.not_measured(run)])


def markdown(run: dict, notes: str) -> str:
    missing = "\n".join([""] + [f"**Not measured here**: {line}." for line in report.not_measured(run)] + [""])
    return "\n".join([
        "# Benchmarks: manual vs torch vs scikit-learn", "",
        "Generated by one command (rerun it to refresh this file; timings on a shared machine are noisy):", "",
        f"    {run['command']}", "", "## Machine", "", *[f"- {line}" for line in report.machine_lines(run)],
        *[f"- {line}" for line in report.peak_lines(run)], missing,
        "## Time, throughput and memory per training step", "",
        render.markdown(report.BACKEND_HEADER, report.backend_rows(run)), "",
        "## Time ratios (per round, side by side; median over rounds)", "",
        render.markdown(report.RATIO_HEADER, report.ratio_rows(run)), "",
        "## Targets", "", render.markdown(report.TARGET_HEADER, report.target_rows(run)), "", notes])


def write_markdown(run: dict, path: str, method: str) -> None:
    """`method`: how the timing and FLOPs were done (compare.bench.timing's docstring, less its title line)."""
    with atomic_write(path, "w") as f:
        f.write(markdown(run, "## What the numbers mean\n\n" + method + MEMORY_NOTE + "\nWhere the time goes, why "
                         "targets are missed, and the changes proposed: benches/README.md.\n"))


MEMORY_NOTE = """
Memory, per backend: bytes live above what was live just before one step, at the step's peak; growth per step
after the first (manual and scikit-learn: live NumPy array data, from tracemalloc snapshots; torch: tensor
storage over one profiled step):
- manual and scikit-learn: `tracemalloc`, which sees every NumPy array (scikit-learn's figure is one
  `partial_fit` over the epoch, not one step).
- torch-cpu: torch's allocator is invisible to tracemalloc, so tensor storage comes from the profiler's
  allocation events (`profile_memory=True`, summed in time order over a second profiled step), and torch's
  Python objects from tracemalloc over another identical step; the two peaks are added (an upper bound of
  their simultaneous peak). torch's C++ bookkeeping (autograd nodes, TensorImpl) is visible to neither, while
  manual's equivalent (Python objects, a few KiB) is counted: the comparison leans slightly towards torch.
- torch-cuda: `torch.cuda.max_memory_allocated()` above `memory_allocated()` before the step.
"""
