"""A long run: 10,000 Adam steps of a small MLP in float64, compared with torch at every step, while tracemalloc
watches the memory that manual's own code holds. Slow: `python -m pytest -m slow tests/engine/test_long_run.py -s`
prints its figures (max error, memory, runtime).
"""
import gc
import os
import time
import tracemalloc

import numpy as np
import pytest

from compare.catalogue.case_types import Case
from compare.catalogue.training_cases import THREE_CLASSES
from compare.engine.step_loop import run_twins
from compare.engine.twins import build_twins

CASE = Case("mlp8_tanh-ce-adam-long", ("MLP", {"in_features": 4, "hidden": [8], "out_features": 3,
                                              "activation": "tanh"}),
            ("CrossEntropyLoss", {}), ("Adam", {"lr": 1e-3}), THREE_CLASSES, steps=10_000)
CHUNK = 500  # steps per run_twins call; memory is read between chunks
FRAMES = 4  # enough to reach from NumPy's Python-level helpers (zeros_like, ...) back to the manual code calling them
MANUAL = os.path.join("*", "manual", "*")
# NumPy keeps the dims-and-strides buffers of freed arrays for reuse (numpy/_core/src/multiarray/alloc.c: up to 15
# per size, for sizes below 16 npy_intp; 7 per size in older releases), and tracemalloc still counts a kept buffer
# where it was first allocated. While that cache fills, the bytes held by manual's frames grow by a buffer at a
# time: 32 B (a 2-D array's two dims and two strides), twice in the first 1500 traced steps, at `rows_g.T @
# rows_x` in manual/nn/functional/linear.py, then never again. A leak grows with the steps; the cache stops at this:
DIMS_CACHE_BYTES = 15 * 8 * sum(range(16))


def held_by_manual() -> tuple[int, int]:
    """(array data, Python objects) in bytes, held by live allocations traced since tracemalloc started and made
    while manual/ code ran (a manual frame anywhere in the allocation's traceback). A full collection first empties
    the interpreter's free lists, whose recycled tuples would otherwise still count as held where first allocated."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    traces = snapshot.filter_traces([tracemalloc.Filter(True, MANUAL, all_frames=True)]).traces
    arrays = sum(trace.size for trace in traces if trace.domain == np.lib.tracemalloc_domain)
    return arrays, sum(trace.size for trace in traces) - arrays


@pytest.mark.slow
def test_ten_thousand_adam_steps_agree_and_manual_memory_does_not_grow():
    """The first chunk is the warm-up (state created, lazy imports done); tracemalloc runs from then on, so what
    manual holds afterwards is what each step allocates and keeps (the last step's gradients): from the second
    reading on (the first chunk traced started mid-way) its arrays must not change by a single byte, nor its
    Python-level allocations over the second half of the run (5,000 steps), which before that may grow only by
    what NumPy's cache of dims buffers holds (above)."""
    start, worst, held = time.perf_counter(), None, []
    torch_twin, manual_twin = build_twins(CASE, "float64", "cpu", seed=0)
    batches = CASE.data.stream(0, "float64")
    try:
        for chunk in range(CASE.steps // CHUNK):
            result = run_twins(torch_twin, manual_twin, batches, CHUNK, "float64", "cpu", CASE.name)
            assert result.passed, f"chunk {chunk} (steps {chunk * CHUNK}..): {result.first_mismatch.describe()}"
            if worst is None or result.worst.ratio > worst.ratio:
                worst = result.worst
                worst.step += chunk * CHUNK
            del result
            if tracemalloc.is_tracing():
                held.append(held_by_manual())
            else:
                tracemalloc.start(FRAMES)
    finally:
        tracemalloc.stop()
    print(f"\n{CASE.steps} float64 steps compared in {time.perf_counter() - start:.1f} s (tracemalloc on after the "
          f"first {CHUNK}); worst: step {worst.step}, {worst.name}{list(worst.index)}: abs {worst.max_abs:.2e}, rel "
          f"{worst.max_rel:.2e}, {worst.ratio:.1%} of the tolerance\nbytes held by manual/ after each further {CHUNK} "
          f"steps (arrays, objects): {held}")
    arrays, objects = zip(*held[1:], strict=True)
    assert len(set(arrays)) == 1, f"manual's arrays changed after the warm-up: {held}"
    assert len(set(objects[len(objects) // 2:])) == 1, f"manual's memory grew in the second half of the run: {held}"
    assert max(objects) - min(objects) <= DIMS_CACHE_BYTES, f"manual's memory grew after the warm-up: {held}"
