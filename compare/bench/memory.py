"""Peak memory of one call above what was live just before it, and growth over calls, for NumPy and for torch.

Each backend needs its own instrument: tracemalloc sees NumPy's arrays (and every Python object) but not
torch's allocator; torch's profiler and CUDA statistics see torch's tensors only. Each function returns
(peak bytes, growth bytes per call).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tracemalloc

import numpy as np
import torch


def _numpy_array_bytes() -> int:
    """Live NumPy array data: the traces of NumPy's own tracemalloc domain."""
    domain = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
    return sum(trace.size for trace in tracemalloc.take_snapshot().filter_traces([domain]).traces)


def traced_peak(step, repeats: int = 5) -> tuple[int, float]:
    """tracemalloc over `1 + repeats` calls of `step`.

    peak: the largest rise during one call above what was live just before it, counting every allocation
    (array data and Python objects). growth: live array data after the last call minus after the first, per
    call; Python's object caches fill over thousands of calls and then stop, so they are not counted as growth.
    """
    tracemalloc.start()
    try:
        step()
        after_first, peak = _numpy_array_bytes(), 0
        for _ in range(repeats):
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            step()
            peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
        return peak, (_numpy_array_bytes() - after_first) / repeats
    finally:
        tracemalloc.stop()


def torch_cpu_peak(step) -> tuple[int, int]:
    """torch's tensor storage on the CPU, from the profiler's allocation events (profile_memory=True).

    The events, summed in time order, give the bytes live above the start of a step. Two steps are profiled
    and the second is read: the profiler cannot size frees of blocks allocated before it started, and the
    second step frees what the first allocated (its gradients, at zero_grad).
    """
    from torch.profiler import ProfilerActivity, profile, record_function
    with _quiet_stderr_fd(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
        with record_function("measured_step"):
            step()
    events = prof.profiler.kineto_results.events()
    marker = next(e for e in events if e.name() == "measured_step")
    live = baseline = peak = 0
    for event in sorted((e for e in events if e.name() == "[memory]"), key=lambda e: e.start_ns()):
        if event.start_ns() > marker.end_ns():
            break
        live += event.nbytes()
        if event.start_ns() < marker.start_ns():
            baseline = peak = live
        else:
            peak = max(peak, live)
    return peak - baseline, live - baseline


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Send file descriptor 2 to /dev/null: torch's profiler prints its start and stop from C++ (lines such as
    `USDT ... profiler_start`), which no Python-level redirect catches. Python's own errors still reach stderr:
    an exception propagates and is printed after the descriptor is restored."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def torch_cuda_peak(step) -> tuple[int, int]:
    """torch.cuda.max_memory_allocated() above memory_allocated() before the step: live tensors on the device,
    not what the caching allocator reserved."""
    step()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    return torch.cuda.max_memory_allocated() - before, torch.cuda.memory_allocated() - before
