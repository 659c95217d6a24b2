"""The bench's results as rows: per size and backend ms/step, GFLOP/s, share of the GEMM peak and memory; the
ratios; the targets against what was measured; the machine's lines; and the JSON. compare/cli/bench.py renders
them as text for the terminal and Markdown for benches/RESULTS.md."""
from __future__ import annotations

import json
import operator
import statistics

from manual.atomic import atomic_write

KIB = 2 ** 10

# time ratios: per round (the backends ran one after another within it), then the median over rounds
RATIOS = [("manual", "torch-cpu"), ("scikit-learn", "manual"), ("torch-cpu", "torch-cuda")]


def ratio(name: str):
    return lambda result: result["ratios"].get(name)


def manual_peak_share(result: dict):
    return result["backends"].get("manual", {}).get("peak_share")


# (what, size, measured(result), comparison, bound); all on float32, as the issue states them
TARGETS = [
    ("manual / torch-cpu step time", "tiny", ratio("manual/torch-cpu"), "<=", 0.25),
    ("manual / torch-cpu step time", "small", ratio("manual/torch-cpu"), "<=", 0.35),
    ("manual / torch-cpu step time", "medium", ratio("manual/torch-cpu"), "<=", 0.85),
    ("manual / torch-cpu step time", "large", ratio("manual/torch-cpu"), "<=", 0.95),
    ("manual share of the GEMM peak", "large", manual_peak_share, ">=", 0.85),
    ("scikit-learn / manual time per epoch", "medium", ratio("scikit-learn/manual"), ">=", 1.6),
]
COMPARE = {"<=": operator.le, ">=": operator.ge}


def add_ratios(run: dict) -> None:
    for result in run["results"]:
        rounds = {name: row["ms_rounds"] for name, row in result["backends"].items()}
        result["ratios"] = {f"{a}/{b}": statistics.median(x / y for x, y in zip(rounds[a], rounds[b], strict=True))
                            for a, b in RATIOS if a in rounds and b in rounds}


def target_rows(run: dict) -> list[list[str]]:
    by_size = {r["size"]: r for r in run["results"] if r["dtype"] == "float32"}
    rows = []
    for what, size, measure, comparison, bound in TARGETS:
        measured = measure(by_size[size]) if size in by_size else None
        verdict = ("not measured" if measured is None
                   else "holds" if COMPARE[comparison](measured, bound) else "MISSED")
        rows.append([what, size, f"{comparison} {bound:g}", "-" if measured is None else f"{measured:.3f}", verdict])
    for result in (r for r in run["results"] if r["dtype"] == "float32" and "manual" in r["backends"]):
        manual, torch_cpu = result["backends"]["manual"], result["backends"].get("torch-cpu")
        growth = manual["growth_bytes"]
        rows.append(["manual array memory growth per step after the first", result["size"], "<= 0 B",
                     f"{growth:g} B", "holds" if growth <= 0 else "MISSED"])
        if torch_cpu:
            rows.append(["manual peak above baseline <= torch-cpu's", result["size"],
                         f"<= {torch_cpu['peak_bytes'] / KIB:.1f} KiB", f"{manual['peak_bytes'] / KIB:.1f} KiB",
                         "holds" if manual["peak_bytes"] <= torch_cpu["peak_bytes"] else "MISSED"])
    return rows


def backend_rows(run: dict) -> list[list[str]]:
    rows = []
    for result in run["results"]:
        for backend, row in result["backends"].items():
            rows.append([result["size"], result["dtype"], backend, f"{row['ms_best']:.4g}", f"{row['ms_median']:.4g}",
                         f"{row['gflops']:.3g}", f"{100 * row['peak_share']:.2g}%", f"{row['peak_bytes'] / KIB:.1f}",
                         f"{row['growth_bytes']:g}"])
    return rows


def ratio_rows(run: dict) -> list[list[str]]:
    names = [f"{a}/{b}" for a, b in RATIOS]
    return [[r["size"], r["shape"], r["dtype"], f"{r['flops'] / 1e6:.4g}"]
            + [f"{r['ratios'][n]:.3f}" if n in r["ratios"] else "-" for n in names] for r in run["results"]]


BACKEND_HEADER = ["size", "dtype", "backend", "ms/step best", "ms/step median", "GFLOP/s", "of GEMM peak (paired)",
                  "peak KiB above baseline", "growth B/step"]
RATIO_HEADER = ["size", "shape", "dtype", "MFLOP/step", "manual/torch-cpu", "scikit-learn/manual",
                "torch-cpu/torch-cuda"]
TARGET_HEADER = ["target (float32)", "size", "bound", "measured", "verdict"]


def machine_lines(run_or_info: dict) -> list[str]:
    info = run_or_info.get("machine", run_or_info)
    threads = info["threads"]
    return [f"CPU: {info['cpu']}, {info['logical_cpus']} logical CPUs",
            f"Python {info['python']}; NumPy {info['numpy']} with {info['numpy_blas']}",
            f"torch {info['torch']} (BLAS {info['torch_blas']}, oneDNN {info['torch_mkldnn']}); "
            f"CUDA device: {info['cuda'] or 'none'}; scikit-learn {info['scikit_learn'] or 'not installed'}",
            f"threads: NumPy BLAS {threads['numpy_blas'] if threads['numpy_blas'] is not None else 'unknown'}, "
            f"torch {threads['torch']} (requested {threads['requested']})"]


BUSY = 0.8  # a median GEMM sample below this share of the best one means the machine was busy during the run


def peak_lines(run: dict) -> list[str]:
    lines = [f"load average (1 min) before and after: {run['load_average']['before'][0]:.2f}, "
             f"{run['load_average']['after'][0]:.2f} on {run['machine']['logical_cpus']} logical CPUs"]
    for device, gemm in run["gemm"].items():
        samples, n = gemm["samples_gflops"], gemm["n"]
        how = "NumPy sgemm" if device == "cpu" else "torch.mm, TF32 off,"
        lines.append(f"float32 GEMM peak ({device}): best {max(samples):.1f} GFLOP/s, median "
                     f"{statistics.median(samples):.1f}, range {min(samples):.0f}-{max(samples):.0f} over "
                     f"{len(samples)} {how} {n}x{n} samples, one at the start and one per timing round")
        if statistics.median(samples) < BUSY * max(samples):
            share = statistics.median(samples) / max(samples)
            lines.append(f"WARNING: the median GEMM sample ({device}) is {share:.0%} of the best: other work shared the machine during this run, and torch's OpenMP threads "
                         f"slow down far more than NumPy's under such load; re-run on a quiet machine")
    return lines


def not_measured(run: dict) -> list[str]:
    lines = []
    reasons = run.get("absent_reasons", {})
    lines += [f"{b} ({reasons.get(b, 'not present on this machine')})" for b in run["backends_missing"]]
    skips = run.get("skip_reasons", {})
    lines += [f"size {name} ({skips.get(name, 'skipped')})" for name in run["sizes_skipped"]]
    return lines


def write_json(run: dict, path: str) -> None:
    with atomic_write(path, "w") as f:
        json.dump(run, f, indent=1)
