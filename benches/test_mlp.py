"""Forward, backward and a full training step of the bench MLPs: manual vs torch CPU vs torch CUDA.

`python -m pytest benches` (not in the default test run). One benchmark group per phase, size and dtype, so
pytest-benchmark's table puts the backends of one size side by side. Every bench first makes sure the harness
found the two backends in agreement on that size (`agreed`), then times. Sizes, models and step functions are
`compare.bench.timing`'s, the same as `python -m compare bench` uses; the timed step skips dL/d(data) on both sides.
"""
import numpy as np
import pytest
import torch

from compare.bench import sizes, timing
from compare.engine import twins

DTYPES = ("float32", "float64")
BACKENDS = [
    pytest.param("manual"),
    pytest.param("torch-cpu"),
    pytest.param("torch-cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                          reason="no CUDA device")]),
]
# rounds x iterations per size: tiny calls take microseconds, so many iterations per round, after a warm-up
TIMING = {"tiny": (500, 20), "small": (200, 10), "medium": (50, 2), "large": (8, 1)}


def grouped(phase: str):
    return [pytest.param(size, dtype, id=f"{size}-{dtype}",
                         marks=pytest.mark.benchmark(group=f"{phase} {size} {dtype}"))
            for size in TIMING for dtype in DTYPES]


def device_of(backend: str) -> str:
    return "cuda" if backend == "torch-cuda" else "cpu"


def setup(size: str, dtype: str, backend: str, agreed):
    """(twin of `backend`, a batch) after the agreement check on that device."""
    agreed(size, dtype, device_of(backend))
    torch_twin, manual_twin = timing.timing_twins(sizes.SIZES[size], dtype, device_of(backend))
    (x, y), = timing.batches(sizes.SIZES[size], dtype, 1)
    timing.settle()  # the agreement check ran both libraries: let their threads stop spinning
    return (manual_twin if backend == "manual" else torch_twin), x, y


def run(benchmark, size: str, function, setup_function=None):
    rounds, iterations = TIMING[size]
    if setup_function is not None:  # pytest-benchmark runs a setup only with one iteration per round
        rounds, iterations = rounds * iterations, 1
    benchmark.pedantic(function, setup=setup_function, rounds=rounds, iterations=iterations,
                       warmup_rounds=max(1, rounds // 10))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size,dtype", grouped("forward"))
def test_forward(benchmark, size, dtype, backend, agreed):
    twin, x, _ = setup(size, dtype, backend, agreed)
    if backend == "manual":
        run(benchmark, size, lambda: twin.model(x))
    else:
        device = device_of(backend)

        def forward():
            output = twin.model(torch.from_numpy(x).to(device))  # records the graph, as in training
            twins.synchronize(device)
            return output
        run(benchmark, size, forward)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size,dtype", grouped("backward"))
def test_backward(benchmark, size, dtype, backend, agreed):
    """The loss's gradient and every layer's, after an untimed zero_grad, forward and loss."""
    twin, x, y = setup(size, dtype, backend, agreed)
    if backend == "manual":
        def forward():
            twin.optimizer.zero_grad()
            twin.loss_fn(twin.model(x), y)
        run(benchmark, size, lambda: twin.model.backward(twin.loss_fn.backward()), forward)
    else:
        device = device_of(backend)
        x_t, y_t = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

        def forward():
            twin.optimizer.zero_grad()
            return (twin.loss_fn(twin.model(x_t), y_t),), {}

        def backward(loss):
            loss.backward()
            twins.synchronize(device)
        run(benchmark, size, backward, forward)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size,dtype", grouped("step"))
def test_step(benchmark, size, dtype, backend, agreed):
    """zero_grad, forward, loss, backward, SGD step; the batch arrives as a NumPy array."""
    twin, x, y = setup(size, dtype, backend, agreed)
    if backend == "manual":
        def step():
            return twins.manual_step(twin, x, y)
    else:
        def step():
            return twins.torch_step(twin, x, y, device_of(backend))
    run(benchmark, size, step)
    _, loss, _ = step()
    assert np.isfinite(loss.item() if backend != "manual" else float(loss))
