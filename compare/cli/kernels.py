"""The check under every CPU kernel setting torch and NumPy can be forced to: `python -m compare.cli.kernels`.

The float32 bounds must not depend on which vector kernels run (issue 12). torch picks its kernels by CPU
capability at start-up (ATEN_CPU_CAPABILITY=default / avx2 / avx512; unset: the machine's best), NumPy's
OpenBLAS by its core type (OPENBLAS_CORETYPE; unset: the machine's). Both are read when the libraries load, so
each setting runs in its own process:
    python -m compare.cli.kernels                  the whole catalogue (`python -m compare --json`) per setting
    python -m compare.cli.kernels --cases A B ...  only these cases, both dtypes (tests/test_kernels.py)
    python -m compare.cli.kernels --pytest ARGS    `python -m pytest ARGS` per setting instead
It prints, per setting, the kernels in use, whether everything passed, and the worst "tol used" per dtype.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SETTINGS = {  # name -> environment variables (on top of the caller's, with these two removed first)
    "best": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "openblas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
}
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE")


def environment(setting: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES}
    return {**env, **SETTINGS[setting]}


def torch_fuses_multiply_add() -> bool:
    """Whether torch's float32 CPU kernels round a + s·b once (fused multiply-add), as its vectorised AVX2/AVX512
    kernels do and its DEFAULT (baseline x86-64, no FMA) kernels do not. manual/optim/_ops.py emulates the fused
    rounding, so float32 update rules match torch bit for bit only where this is True; elsewhere they differ by
    one rounding per fused op. Measured on a probe, not read from the capability's name."""
    import numpy as np
    import torch
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(4096).astype(np.float32) for _ in range(2))
    s = np.float32(0.3)
    fused = (a.astype(np.float64) + b.astype(np.float64) * float(s)).astype(np.float32)
    return bool(np.array_equal(torch.from_numpy(a).add(torch.from_numpy(b), alpha=float(s)).numpy(), fused))


def kernels_in_use() -> dict:
    """torch's CPU capability and, where threadpoolctl is installed, each BLAS library's core type."""
    import torch
    found = {"torch": torch.backends.cpu.get_cpu_capability()}
    try:
        from threadpoolctl import threadpool_info
        found.update((f"{info['internal_api']} ({info.get('prefix', '')})", info.get("architecture"))
                     for info in threadpool_info() if info.get("user_api") == "blas")
    except ImportError:
        pass
    return found


def summary(report: dict) -> dict:
    """passed, and per dtype the worst tol used and where, from a `python -m compare --json` report."""
    worst = {}
    for case in report["cases"]:
        ratio = float(case["worst"]["ratio"]) if case["worst"] else 0.0
        if case["dtype"] not in worst or ratio > worst[case["dtype"]][0]:
            worst[case["dtype"]] = (ratio, case["case"], case["worst"]["name"] if case["worst"] else None)
    return {"passed": report["passed"], "runs": len(report["cases"]), "worst": worst}


def run_setting(setting: str, cases: list[str] | None = None) -> dict:
    """The check under `setting` in a child process: its summary plus the kernels it ran on."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.json")
        command = [sys.executable, "-m", "compare.cli.kernels", "--child", path, *(["--cases", *cases] if cases else [])]
        done = subprocess.run(command, env=environment(setting), capture_output=True, text=True)
        if done.returncode not in (0, 1) or not os.path.exists(path):
            raise RuntimeError(f"{setting}: {' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        with open(path) as f:
            child = json.load(f)
    return {"setting": setting, "kernels": child["kernels"], **summary(child["report"])}


def _child(path: str, names: list[str] | None) -> int:
    """Run the cases (default: the whole catalogue, both dtypes) as `python -m compare` does; write the report."""
    import torch

    from compare.catalogue import training_cases
    from compare.cli import report
    from compare.engine.step_loop import run_case
    torch.set_num_threads(1)
    selected = training_cases.CATALOGUE if not names else [c for c in training_cases.CATALOGUE if c.name in names]
    missing = set(names or ()) - {c.name for c in selected}
    if missing:
        raise SystemExit(f"unknown cases: {sorted(missing)}")
    results = [run_case(case, dtype) for case in selected for dtype in case.dtypes]
    with open(path, "w") as f:
        json.dump({"kernels": kernels_in_use(), "report": report.to_json(results)}, f)
    return 0 if all(r.passed for r in results) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compare.cli.kernels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="only these catalogue cases")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--pytest", nargs=argparse.REMAINDER, help="run `python -m pytest ARGS` per setting")
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.cases)
    failed = False
    for setting in args.settings:
        if args.pytest is not None:
            code = subprocess.run([sys.executable, "-m", "pytest", *args.pytest], env=environment(setting)).returncode
            print(f"{setting:18s} pytest {' '.join(args.pytest)}: exit {code}", flush=True)
            failed |= code != 0
            continue
        found = run_setting(setting, args.cases)
        worst = "; ".join(f"{dtype} {ratio:.0%} ({case}, {name})"
                          for dtype, (ratio, case, name) in sorted(found["worst"].items()))
        print(f"{setting:18s} {'PASS' if found['passed'] else 'FAIL'} {found['runs']} runs; kernels "
              f"{found['kernels']}; worst tol used: {worst}", flush=True)
        failed |= not found["passed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
