"""Where manual's training step spends its time, beside torch's whole step (float32, one process).

    python benches/profile_step.py [--sizes tiny small medium large] [--threads 2]

Per size, on the bench's models and batches (`compare.bench`):
- manual's mean µs per phase: zero_grad, forward, loss, loss backward, backward, optimizer step;
- manual's and torch's whole step, timed one after the other (each after a pause that lets the other
  library's threads stop spinning), their ratio, and the minor page faults per step of each;
- the same manual step with SGD's update in plain float32 (`p += g·(-lr)`, two roundings) in place of
  torch's fused rounding (`manual.optim._ops.add_`): what that exactness costs. The swap is undone after.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import manual.optim.sgd as sgd
from compare import bench, machine

PHASES = ("zero_grad", "forward", "loss", "loss backward", "backward", "step")


def phase_times(twin, data, steps: int) -> dict[str, float]:
    """Mean µs of each phase of `bench.manual_step`, split by timers."""
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
        for phase, start, end in zip(PHASES, marks, marks[1:]):
            totals[phase] += end - start
    return {phase: 1e6 * total / steps for phase, total in totals.items()}


def whole_step(step, data, steps: int) -> tuple[float, float]:
    """(µs per step, minor page faults per step), after the settle pause."""
    bench.settle()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    for i in range(steps):
        step(*data[i % len(data)])
    seconds = time.perf_counter() - start
    return 1e6 * seconds / steps, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def plain_float32_update(target: np.ndarray, alpha: float, x: np.ndarray) -> None:
    target += x * np.float32(alpha)


def profile(size: bench.Size, steps: int) -> None:
    torch_twin, manual_twin = bench.timing_twins(size, "float32")
    data = bench.batches(size, "float32", 3)
    phases = phase_times(manual_twin, data, steps)
    print(f"{size.name} ({size.describe()}), {steps} steps; manual per phase, µs: "
          + ", ".join(f"{phase} {us:.1f}" for phase, us in phases.items()))
    manual_us, manual_faults = whole_step(lambda x, y: bench.manual_step(manual_twin, x, y), data, steps)
    torch_us, torch_faults = whole_step(lambda x, y: bench.torch_step(torch_twin, x, y, "cpu"), data, steps)
    exact = sgd.add_scaled_
    sgd.add_scaled_ = plain_float32_update
    try:
        plain_us, _ = whole_step(lambda x, y: bench.manual_step(manual_twin, x, y), data, steps)
    finally:
        sgd.add_scaled_ = exact
    print(f"  whole step: manual {manual_us:.1f} µs ({manual_faults:.0f} page faults), torch {torch_us:.1f} µs "
          f"({torch_faults:.0f}), manual/torch {manual_us / torch_us:.2f}; with a plain float32 SGD update "
          f"{plain_us:.1f} µs, {plain_us / torch_us:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=[n for n, s in bench.SIZES.items() if not s.gpu_only],
                        default=["tiny", "small", "medium", "large"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("threads:", machine.pin_threads(args.threads))
    for name in args.sizes:
        size = bench.SIZES[name]
        bench.check_agreement(size, "float32")
        profile(size, steps=size.batches * size.rounds)  # as many steps as the bench times


if __name__ == "__main__":
    main()
