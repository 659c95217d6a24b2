"""Where manual's training step spends its time, beside torch's whole step (float32, one process).

    python benches/profile_step.py [--sizes tiny small medium large] [--threads 2]

Per size, on the bench's models and batches (`compare.bench.timing`):
- manual's mean µs per phase: zero_grad, forward, loss, loss backward, backward, optimizer step;
- manual's and torch's whole step, timed one after the other (each after a pause that lets the other
  library's threads stop spinning), their ratio, and the minor page faults per step of each;
- the same manual step with SGD's update in plain float32 (`p += g·(-lr)`, two roundings) in place of
  torch's fused rounding (`manual.optim._ops.add_`): what that exactness costs. The swap is undone after;
- the same manual step with the read-only locking of saved arrays switched off (`grad_mode.lock` returning
  nothing): what torch's saved-tensor check costs manual per step. Undone after;
- the floor: the step's matrix products alone (forward x·Wᵀ, backward Gᵀ·X and G·W, as the step computes
  them, on preallocated outputs), against torch's whole step. Where the products alone take most of torch's
  step, no change outside the BLAS can reach a lower ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import resource
import time

import numpy as np

import manual.optim.sgd as sgd
from compare.bench import machine, sizes, timing
from compare.engine import twins
from manual.nn import grad_mode

PHASES = ("zero_grad", "forward", "loss", "loss backward", "backward", "step")


def phase_times(twin, data, steps: int) -> dict[str, float]:
    """Mean µs of each phase of `twins.manual_step`, split by timers."""
    totals = dict.fromkeys(PHASES, 0.0)
    for i in range(steps):
        x, y = data[i % len(data)]
        marks = [time.perf_counter()]
        twin.optimizer.zero_grad()
        marks.append(time.perf_counter())
        output = twin.model(x)
        marks.append(time.perf_counter())
        twin.loss_fn(output, y)
        marks.append(time.perf_counter())
        grad = twin.loss_fn.backward()
        marks.append(time.perf_counter())
        twin.model.backward(grad)
        marks.append(time.perf_counter())
        twin.optimizer.step()
        marks.append(time.perf_counter())
        for phase, start, end in zip(PHASES, marks[:-1], marks[1:], strict=True):
            totals[phase] += end - start
    return {phase: 1e6 * total / steps for phase, total in totals.items()}


def whole_step(step, data, steps: int) -> tuple[float, float]:
    """(µs per step, minor page faults per step), after the settle pause."""
    timing.settle()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for i in range(steps):
        step(*data[i % len(data)])
    seconds = time.perf_counter() - start
    return 1e6 * seconds / steps, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def plain_float32_update(target: np.ndarray, alpha: float, x: np.ndarray) -> None:
    target += x * np.float32(alpha)


def products_alone(size: sizes.Size):
    """A step of the size's matrix products only, on preallocated outputs (the GEMM floor of a step): forward
    x·Wᵀ per layer, backward Gᵀ·X per layer and G·W for all but the first (stand-ins of G of the same shapes)."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((d_out, d_in), dtype=np.float32)
               for d_in, d_out in zip(size.widths[:-1], size.widths[1:], strict=True)]
    acts = [np.empty((size.batch, w.shape[0]), np.float32) for w in weights]
    grads_w = [np.empty_like(w) for w in weights]
    grads_x = [np.empty((size.batch, w.shape[1]), np.float32) for w in weights]

    def step(x, y):
        inputs = [x] + acts[:-1]
        for w, h, out in zip(weights, inputs, acts, strict=True):
            np.matmul(h, w.T, out=out)
        for layer in reversed(range(len(weights))):
            np.matmul(acts[layer].T, inputs[layer], out=grads_w[layer])
            if layer:
                np.matmul(acts[layer], weights[layer], out=grads_x[layer])
    return step


def no_locking(values, held=None):
    return []


@contextlib.contextmanager
def swapped(module, name: str, replacement):
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def profile(size: sizes.Size, steps: int, rounds: int = 5) -> None:
    torch_twin, manual_twin = timing.timing_twins(size, "float32")
    data = timing.batches(size, "float32", 3)
    phases = phase_times(manual_twin, data, steps)
    print(f"{size.name} ({size.describe()}), {steps} steps; manual per phase, µs: "
          + ", ".join(f"{phase} {us:.1f}" for phase, us in phases.items()))
    manual = lambda x, y: twins.manual_step(manual_twin, x, y)  # noqa: E731
    variants = {  # name -> (step, context it runs in); run in turn, `rounds` times, the best round of each kept
        "manual": (manual, contextlib.nullcontext), "torch": (lambda x, y: twins.torch_step(torch_twin, x, y, "cpu"),
                                                              contextlib.nullcontext),
        "plain float32 SGD update": (manual, lambda: swapped(sgd, "add_scaled_", plain_float32_update)),
        "no locking": (manual, lambda: swapped(grad_mode, "lock", no_locking)),
        "products alone": (products_alone(size), contextlib.nullcontext),
    }
    best = {name: (float("inf"), 0.0) for name in variants}
    for _ in range(rounds):
        for name, (step, context) in variants.items():
            with context():
                best[name] = min(best[name], whole_step(step, data, max(1, steps // rounds)))
    (manual_us, manual_faults), (torch_us, torch_faults) = best["manual"], best["torch"]
    plain_us, unlocked_us, floor_us = (best[n][0] for n in ("plain float32 SGD update", "no locking", "products alone"))
    print(f"  whole step (best of {rounds} interleaved rounds): manual {manual_us:.1f} µs ({manual_faults:.0f} page "
          f"faults), torch {torch_us:.1f} µs ({torch_faults:.0f}), manual/torch {manual_us / torch_us:.2f}; with a "
          f"plain float32 SGD update {plain_us:.1f} µs, {plain_us / torch_us:.2f}; without locking saved arrays "
          f"{unlocked_us:.1f} µs (locking costs {manual_us - unlocked_us:.1f} µs/step)")
    print(f"  floor: the products alone {floor_us:.1f} µs, {floor_us / torch_us:.2f} of torch's whole step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=[n for n, s in sizes.SIZES.items() if not s.gpu_only],
                        default=["tiny", "small", "medium", "large"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("threads:", machine.pin_threads(args.threads))
    for name in args.sizes:
        size = sizes.SIZES[name]
        timing.check_agreement(size, "float32")
        profile(size, steps=size.batches * size.rounds)  # as many steps as the bench times


if __name__ == "__main__":
    main()
