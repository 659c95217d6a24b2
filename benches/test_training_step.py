"""One training step (forward, loss, backward, SGD step) of the catalogue's MLP: manual vs torch CPU.

Run with `python -m pytest benches`. Each bench checks the two backends agree before it times anything.
"""
import numpy as np
import pytest
import torch

from compare.cases import CATALOGUE
from compare.harness import _manual_step, _torch_step, run_case
from compare.twins import build_twins

CASE = next(c for c in CATALOGUE if c.name == "mlp6-7_relu-ce-sgd_nesterov_wd")


@pytest.fixture(scope="module", autouse=True)
def backends_agree():
    assert run_case(CASE, "float32", steps=3).passed


@pytest.mark.benchmark(group="step-mlp6-7-float32")
@pytest.mark.parametrize("backend", ["manual", "torch-cpu"])
def test_training_step(benchmark, backend):
    torch.set_num_threads(2)
    torch_twin, manual_twin = build_twins(CASE, "float32", "cpu", seed=0)
    x, y = next(CASE.data.stream(0, np.float32))
    if backend == "manual":
        benchmark(_manual_step, manual_twin, x, y)
    else:
        benchmark(_torch_step, torch_twin, x, y, "cpu")
