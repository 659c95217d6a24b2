"""The bench's engine: time per training step of manual, torch (CPU, CUDA) and scikit-learn, side by side.

One step: forward, CrossEntropyLoss, backward, SGD(lr=0.01) step of the MLP of a size (`manual.models.MLP`,
`torch_ref.models.MLP`, ReLU), on a batch that arrives as a NumPy array (torch converts it, and moves it to the
GPU, inside the step). Before timing, the harness checks that the twins agree (`check_agreement`); the timed
step then skips dL/d(data), as a torch training step does for data without requires_grad: manual's first
Linear is told so with `needs_input_grad = False`.

Timing: one round runs one epoch (`Size.batches` distinct batches) per backend, one backend after another, each
after a pause that lets the previous library's threads stop spinning (`settle`), then samples the GEMM probe.
ms/step is the best round divided by its steps (the least disturbed), and the median. Ratios between backends
and shares of the GEMM peak are taken within each round, where both sides saw the same machine, and the median
over rounds is reported. scikit-learn's epoch is one `partial_fit` over the same data (its per-call input
checks amortised over the epoch).

FLOPs (`Size.flops`, exact for the products, per step, Linear layers d_0 -> d_1 -> ... -> d_L, batch B):
forward 2·B·d_(l-1)·d_l per layer; backward 2·B·d_(l-1)·d_l for dW of every layer and the same again for dX of
every layer but the first. Ignored as lower order (O(B·d) and O(d²) against O(B·d²)): bias add and bias
gradient, ReLU and its mask, softmax and cross-entropy, the SGD update. GFLOP/s are from the best round; the
share of the float32 GEMM peak (`GemmProbe`: a NumPy sgemm, and torch.mm on the GPU with TF32 off, sampled once
per round) is the median over rounds of that round's GFLOP/s over that round's GEMM sample on the same device.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from compare.bench.gemm import GemmProbe
from compare.bench.memory import torch_cpu_peak, torch_cuda_peak, traced_peak
from compare.bench.sizes import BenchSize, Size
from compare.bench.sklearn_peer import sklearn_classifier
from compare.engine.step_loop import run_twins
from compare.engine.twins import Twin, build_twins, manual_step, torch_step
from manual.nn import Sequential

SETTLE_SECONDS = 0.3  # pause before each timed epoch (see `settle`)


# -- the pieces the pytest benches share -------------------------------------------------------------------
def check_agreement(size: BenchSize, dtype: str, device: str = "cpu", seed: int = 0) -> None:
    """Run the harness on this size's twins for two steps (input gradient included); raise on any mismatch."""
    torch_twin, manual_twin = build_twins(size.case, dtype, device, seed)
    data = size.case.data
    assert data is not None, "a bench size's case has its batches"
    result = run_twins(torch_twin, manual_twin, data.stream(seed, dtype), 2, dtype, device, size.name)
    if not result.passed:
        mismatch = result.first_mismatch
        assert mismatch is not None, "a run that did not pass has a first mismatch"
        raise AssertionError(f"{size.name} [{dtype}, {device}]: backends disagree; first mismatch "
                             f"{mismatch.describe()}")


def timing_twins(size: BenchSize, dtype: str, device: str = "cpu", seed: int = 0) -> tuple[Twin, Twin]:
    """(torch twin, manual twin) with equal weights; neither computes dL/d(data) in a step."""
    torch_twin, manual_twin = build_twins(size.case, dtype, device, seed)
    if isinstance(manual_twin.model, Sequential):  # GPT reads token indices: no dL/d(data) to skip
        manual_twin.model[0].needs_input_grad = False
    return torch_twin, manual_twin


def batches(size: BenchSize, dtype: str, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    data = size.case.data
    assert data is not None, "a bench size's case has its batches"
    stream = data.stream(seed, dtype)
    return [next(stream) for _ in range(count)]


# -- one size ----------------------------------------------------------------------------------------------
def twin_steps(size: BenchSize, dtype: str, backends: list[str], seed: int = 0) -> dict:
    """backend -> step(x, y), one training step of its twin; manual and torch-cpu start from equal weights."""
    steps = {}
    if "manual" in backends or "torch-cpu" in backends:
        torch_twin, manual_twin = timing_twins(size, dtype, "cpu", seed)
        if "manual" in backends:
            steps["manual"] = lambda x, y: manual_step(manual_twin, x, y)
        if "torch-cpu" in backends:
            steps["torch-cpu"] = lambda x, y: torch_step(torch_twin, x, y, "cpu")
    if "torch-cuda" in backends:
        cuda_twin, _ = timing_twins(size, dtype, "cuda", seed)
        steps["torch-cuda"] = lambda x, y: torch_step(cuda_twin, x, y, "cuda")
    return steps


def epoch_runners(size: BenchSize, dtype: str, backends: list[str], data, seed: int = 0) -> dict:
    """backend -> a function that trains one epoch over `data`, each from the same torch-initialised weights."""
    def epoch(step: Callable[[np.ndarray, np.ndarray], object]) -> Callable[[], object]:
        return lambda: [step(x, y) for x, y in data]
    runners = {backend: epoch(step) for backend, step in twin_steps(size, dtype, backends, seed).items()}
    if "scikit-learn" in backends:
        if not isinstance(size, Size):
            raise ValueError(f"{size.name}: scikit-learn has no model for image sizes")
        classifier = sklearn_classifier(size, seed)
        x_all, y_all = np.concatenate([x for x, _ in data]), np.concatenate([y for _, y in data])
        classifier.partial_fit(x_all[:size.batch], y_all[:size.batch], classes=np.arange(max(2, size.widths[-1])))
        runners["scikit-learn"] = lambda: classifier.partial_fit(x_all, y_all)
    return runners


def settle() -> None:
    """Wait until the worker threads of the library that ran last have stopped spinning.

    After a product OpenBLAS's threads busy-wait for new work for about 0.1 s; on 2 cores a torch product
    started meanwhile ran 10-70 times slower (measured here), and GNU OpenMP's threads spin likewise after torch.
    """
    time.sleep(SETTLE_SECONDS)


def time_rounds(runners: dict, rounds: int, steps: int, probes=()) -> dict[str, list[float]]:
    """Seconds per step of each round; the backends alternate within every round, then the probes sample."""
    for run in runners.values():
        run()  # warm-up: caches, thread pools, lazily created state
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            settle()
            start = time.perf_counter()
            run()
            seconds[name].append((time.perf_counter() - start) / steps)
        for probe in probes:
            settle()
            probe.sample()
    return seconds


def measure_memory(size: BenchSize, dtype: str, backends: list[str], data, seed: int = 0) -> dict:
    """backend -> (peak bytes above the baseline, growth bytes per step), each with its own instrument."""
    x, y = data[0]
    steps = twin_steps(size, dtype, backends, seed)
    memory = {}
    if "manual" in steps:
        memory["manual"] = traced_peak(lambda: steps["manual"](x, y))
    if "torch-cpu" in steps:
        storage_peak, storage_growth = torch_cpu_peak(lambda: steps["torch-cpu"](x, y))
        python_peak, _ = traced_peak(lambda: steps["torch-cpu"](x, y))
        memory["torch-cpu"] = storage_peak + python_peak, storage_growth
    if "torch-cuda" in steps:
        memory["torch-cuda"] = torch_cuda_peak(lambda: steps["torch-cuda"](x, y))
    if "scikit-learn" in backends:
        run = epoch_runners(size, dtype, ["scikit-learn"], data, seed)["scikit-learn"]
        memory["scikit-learn"] = traced_peak(run, repeats=2)
    return memory


def bench_size(size: BenchSize, dtype: str, backends: list[str], probes: dict[str, GemmProbe],
               seed: int = 0) -> dict:
    """Check, time and measure one size; `probes`: device -> GEMM probe, sampled once per round."""
    for device in {"cuda" if backend == "torch-cuda" else "cpu" for backend in backends}:
        check_agreement(size, dtype, device, seed)
    data = batches(size, dtype, size.batches, seed)
    first = {device: len(probe.samples) for device, probe in probes.items()}
    runners = epoch_runners(size, dtype, backends, data, seed)
    seconds = time_rounds(runners, size.rounds, size.batches, probes.values())
    memory = measure_memory(size, dtype, backends, data, seed)
    samples = {device: probe.samples[first[device]:] for device, probe in probes.items()}  # one per round
    rows = {}
    for backend, per_step in seconds.items():
        best = min(per_step)
        gemm = samples["cuda" if backend == "torch-cuda" else "cpu"]
        shares = [size.flops / s / 1e9 / g for s, g in zip(per_step, gemm, strict=True)]  # both: one per round
        rows[backend] = {"ms_best": 1e3 * best, "ms_median": 1e3 * statistics.median(per_step),
                         "gflops": size.flops / best / 1e9, "peak_share": statistics.median(shares),
                         "peak_bytes": memory[backend][0], "growth_bytes": memory[backend][1],
                         "ms_rounds": [1e3 * s for s in per_step]}
    return {"size": size.name, "shape": size.describe(), "dtype": dtype, "flops": size.flops,
            "steps_per_round": size.batches, "rounds": size.rounds, "backends": rows,
            "gemm_samples_gflops": samples}
