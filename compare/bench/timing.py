"""`python -m compare bench`: time per training step of manual, torch (CPU, CUDA) and scikit-learn, side by side.

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

import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from compare.cli import arguments
from compare.bench import report, machine
from compare.catalogue.batches import Batches
from compare.catalogue.training_cases import Case
from compare.engine.step_loop import run_twins
from compare.bench.memory import torch_cpu_peak, torch_cuda_peak, traced_peak
from compare.engine.twins import Twin, build_twins, manual_step, synchronize, torch_step

LR = 0.01
SETTLE_SECONDS = 0.3  # pause before each timed epoch (see `settle`)


@dataclass(frozen=True)
class Size:
    name: str
    batch: int
    widths: tuple  # (in_features, hidden..., out_features)
    batches: int  # batches per epoch (one timing round)
    rounds: int
    gpu_only: bool = False
    sklearn: bool = True  # scikit-learn has this model (an MLP)

    @property
    def case(self) -> Case:
        return Case(f"bench-{self.name}", ("MLP", {"in_features": self.widths[0], "hidden": list(self.widths[1:-1]),
                                                    "out_features": self.widths[-1], "activation": "relu"}),
                    ("CrossEntropyLoss", {}), ("SGD", {"lr": LR}),
                    Batches("classification", self.widths[0], self.widths[-1], self.batch), steps=2)

    @property
    def flops(self) -> int:
        products = [2 * self.batch * d_in * d_out for d_in, d_out in zip(self.widths[:-1], self.widths[1:])]
        return 2 * sum(products) + sum(products[1:])  # forward + dW, then dX for all layers but the first

    def describe(self) -> str:
        return f"batch {self.batch}, {'-'.join(map(str, self.widths))}"


@dataclass(frozen=True)
class ConvSize:
    """A CNN size (`manual.models.CNN` / `torch_ref.models.CNN`) on random images; scikit-learn has no CNN.

    FLOPs per step (products only): each conv layer with output (O, Ho, Wo), C/g input channels per group and a
    k×k kernel costs 2·B·O·Ho·Wo·C/g·k² forward, the same for dW, and the same again for dX except in the first
    layer (data needs no gradient); the final Linear as an MLP layer. Pooling, ReLU and the loss are ignored.
    """
    name: str
    batch: int
    image: tuple  # (C, H, W)
    channels: tuple
    batches: int
    rounds: int
    kernel_size: int = 3
    classes: int = 10
    gpu_only: bool = False
    sklearn: bool = False

    @property
    def model(self) -> tuple:
        return ("CNN", {"in_channels": self.image[0], "image_size": self.image[1], "num_classes": self.classes,
                        "channels": self.channels, "kernel_size": self.kernel_size})

    @property
    def case(self) -> Case:
        return Case(f"bench-{self.name}", self.model, ("CrossEntropyLoss", {}), ("SGD", {"lr": LR}),
                    Batches("images", int(np.prod(self.image)), self.classes, self.batch, image_shape=self.image), steps=2)

    @property
    def flops(self) -> int:
        k, (c_in, size, _), total = self.kernel_size, self.image, 0
        for layer, c_out in enumerate(self.channels):
            size_out = size + 2 * (k // 2) - k + 1
            forward = 2 * self.batch * c_out * size_out ** 2 * c_in * k * k
            total += forward * (2 if layer == 0 else 3)
            c_in, size = c_out, size_out // 2
        return total + 2 * 2 * self.batch * c_in * size * size * self.classes

    def describe(self) -> str:
        return (f"batch {self.batch}, {'x'.join(map(str, self.image))} images, conv {'-'.join(map(str, self.channels))}"
                f" k{self.kernel_size}")


SIZES = {size.name: size for size in [
    Size("tiny", 1, (4, 4, 1), batches=400, rounds=10),
    Size("small", 32, (64, 64, 64, 10), batches=200, rounds=10),
    Size("medium", 256, (784, 256, 256, 10), batches=20, rounds=10),
    Size("large", 1024, (784, 1024, 1024, 10), batches=3, rounds=9),
    Size("gpu-xl", 8192, (4096, 4096, 4096, 10), batches=3, rounds=5, gpu_only=True),
    ConvSize("cnn", 32, (3, 64, 64), (8, 16), batches=4, rounds=5),
]}
DEFAULT_SIZES = ("tiny", "small", "medium", "large", "gpu-xl")
BACKENDS = ("manual", "torch-cpu", "torch-cuda", "scikit-learn")
ABSENT_BECAUSE = {"torch-cuda": "no CUDA device (torch.cuda.is_available() is False)",
                  "scikit-learn": "scikit-learn is not installed (the [sklearn] extra)"}


# -- the pieces the pytest benches share -------------------------------------------------------------------
def check_agreement(size: Size, dtype: str, device: str = "cpu", seed: int = 0) -> None:
    """Run the harness on this size's twins for two steps (input gradient included); raise on any mismatch."""
    torch_twin, manual_twin = build_twins(size.case, dtype, device, seed)
    result = run_twins(torch_twin, manual_twin, size.case.data.stream(seed, dtype), 2, dtype, device, size.name)
    if not result.passed:
        raise AssertionError(f"{size.name} [{dtype}, {device}]: backends disagree; first mismatch "
                             f"{result.first_mismatch.describe()}")


def timing_twins(size: Size, dtype: str, device: str = "cpu", seed: int = 0) -> tuple[Twin, Twin]:
    """(torch twin, manual twin) with equal weights; neither computes dL/d(data) in a step."""
    torch_twin, manual_twin = build_twins(size.case, dtype, device, seed)
    manual_twin.model[0].needs_input_grad = False
    return torch_twin, manual_twin


def batches(size: Size, dtype: str, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    stream = size.case.data.stream(seed, dtype)
    return [next(stream) for _ in range(count)]


def sklearn_classifier(size: Size, seed: int = 0):
    """scikit-learn's MLPClassifier with the same layers, ReLU, plain SGD (no momentum, no L2), the same batch.

    With one output (tiny) scikit-learn needs two classes and then uses one logistic output unit: 4-4-1.
    """
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=size.widths[1:-1], activation="relu", solver="sgd", alpha=0.0,
                         batch_size=size.batch, learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False,
                         shuffle=False, random_state=seed)


def sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


# -- the machine's limit -----------------------------------------------------------------------------------
class GemmProbe:
    """The float32 GEMM ceiling of a device: GFLOP/s of C = A·B on n×n matrices (2n³ flops), through NumPy's BLAS
    on "cpu" and torch.mm on "cuda" (TF32 off, as `main` sets it), sampled once per timing round, just after
    the backends, so that it sees the machine they saw.
    """

    def __init__(self, n: int, device: str = "cpu"):
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        if device == "cpu":
            c = np.empty_like(a)
            self.multiply = lambda: np.matmul(a, b, out=c)
        else:
            a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
            c = torch.empty_like(a)
            self.multiply = lambda: (torch.mm(a, b, out=c), synchronize(device))
        self.n, self.device = n, device
        self.samples: list[float] = []
        self.multiply()  # warm-up: thread pool, pages, kernels

    def sample(self) -> float:
        start = time.perf_counter()
        self.multiply()
        self.samples.append(2 * self.n ** 3 / (time.perf_counter() - start) / 1e9)
        return self.samples[-1]


# -- one size ----------------------------------------------------------------------------------------------
def twin_steps(size: Size, dtype: str, backends: list[str], seed: int = 0) -> dict:
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


def epoch_runners(size: Size, dtype: str, backends: list[str], data, seed: int = 0) -> dict:
    """backend -> a function that trains one epoch over `data`, each from the same torch-initialised weights."""
    runners = {backend: (lambda step=step: [step(x, y) for x, y in data])
               for backend, step in twin_steps(size, dtype, backends, seed).items()}
    if "scikit-learn" in backends:
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
    seconds = {name: [] for name in runners}
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


def measure_memory(size: Size, dtype: str, backends: list[str], data, seed: int = 0) -> dict:
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


def bench_size(size: Size, dtype: str, backends: list[str], probes: dict[str, GemmProbe], seed: int = 0) -> dict:
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
        shares = [size.flops / s / 1e9 / g for s, g in zip(per_step, gemm)]
        rows[backend] = {"ms_best": 1e3 * best, "ms_median": 1e3 * statistics.median(per_step),
                         "gflops": size.flops / best / 1e9, "peak_share": statistics.median(shares),
                         "peak_bytes": memory[backend][0], "growth_bytes": memory[backend][1],
                         "ms_rounds": [1e3 * s for s in per_step]}
    return {"size": size.name, "shape": size.describe(), "dtype": dtype, "flops": size.flops,
            "steps_per_round": size.batches, "rounds": size.rounds, "backends": rows,
            "gemm_samples_gflops": samples}


# -- the command -------------------------------------------------------------------------------------------
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


def runnable(size, backends: list[str]) -> list[str]:
    """The backends among `backends` that can run `size`: GPU-only sizes need torch-cuda, and scikit-learn has
    no model for the image sizes."""
    return [b for b in backends if (b == "torch-cuda" or not size.gpu_only) and (b != "scikit-learn" or size.sklearn)]


def skip_reason(size, backends: list[str], absent: list[str] = ()) -> str:
    """Why no backend of `backends` runs `size`; `absent`: backends asked for but not present here."""
    if size.gpu_only:
        why = (f"torch-cuda is absent: {ABSENT_BECAUSE['torch-cuda']}" if "torch-cuda" in absent
               else "torch-cuda is not among the backends asked for")
        return "a GPU-only size, and " + why
    return f"no backend for it among {', '.join(backends)} (scikit-learn has no model for image sizes)"


def plan(args) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """(size -> the backends that run it, skipped sizes, absent backends) for the requested sizes and the
    backends present here; refuses a command line under which nothing would run."""
    present = {"torch-cuda": torch.cuda.is_available(), "scikit-learn": sklearn_available()}
    backends = [b for b in dict.fromkeys(args.backends) if present.get(b, True)]
    absent = [b for b in dict.fromkeys(args.backends) if b not in backends]
    if not backends:
        raise arguments.UsageError(f"--backends {' '.join(args.backends)}: none of them is present here ("
                                   + "; ".join(f"{b}: {ABSENT_BECAUSE[b]}" for b in absent) + ")")
    runs = {name: runnable(SIZES[name], backends) for name in dict.fromkeys(args.sizes)}
    skipped = [name for name, size_backends in runs.items() if not size_backends]
    if len(skipped) == len(runs):
        reasons = "; ".join(f"{name}: {skip_reason(SIZES[name], backends, absent)}" for name in skipped)
        raise arguments.UsageError(f"--sizes {' '.join(args.sizes)}: no size can run with the backends present "
                                   f"({', '.join(backends)}): {reasons}")
    return {name: size_backends for name, size_backends in runs.items() if size_backends}, skipped, absent


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
    runs, skipped, absent = plan(args)
    backends = list(dict.fromkeys(b for size_backends in runs.values() for b in size_backends))
    threads = machine.pin_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 on the GPU stays float32
    torch.backends.cudnn.allow_tf32 = False
    info = machine.describe(threads)
    load_before = os.getloadavg()
    print(report.machine_text(info), flush=True)  # the header, once: `text` below leaves it out
    probes = {"cpu": GemmProbe(args.gemm_n)}
    if "torch-cuda" in backends:
        probes["cuda"] = GemmProbe(8192, "cuda")
    for probe in probes.values():
        probe.sample()
    for name in skipped:
        print(f"  {name}: skipped, {skip_reason(SIZES[name], backends, absent)}", file=sys.stderr)
    results = []
    for dtype in dict.fromkeys(args.dtype):
        for name, size_backends in runs.items():
            results.append(bench_size(SIZES[name], dtype, size_backends, probes, args.seed))
            print(f"  {name} [{dtype}] done", file=sys.stderr, flush=True)
    run = {"command": command_line(args), "machine": info,
           "skip_reasons": {name: skip_reason(SIZES[name], backends, absent) for name in skipped},
           "gemm": {device: {"n": probe.n, "samples_gflops": probe.samples} for device, probe in probes.items()},
           "load_average": {"before": load_before, "after": os.getloadavg()}, "backends_missing": absent,
           "absent_reasons": {b: ABSENT_BECAUSE[b] for b in absent},
           "sizes_skipped": sorted(set(skipped)), "results": results}
    report.add_ratios(run)
    print(report.text(run, header=False))
    if args.json:
        report.write_json(run, args.json)
    if args.markdown:
        report.write_markdown(run, args.markdown, __doc__.split("\n", 2)[2])
    return 0
