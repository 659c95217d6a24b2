"""Shared by the benches: thread pinning (printed in pytest's header) and the agreement check run before timing.

Threads: BENCH_THREADS (default 2) for torch and, through threadpoolctl, NumPy's BLAS.
"""
import os

import pytest
import torch

from compare.bench import machine, report, sizes, timing

THREADS = machine.pin_threads(int(os.environ.get("BENCH_THREADS", "2")))
torch.backends.cuda.matmul.allow_tf32 = False  # float32 on the GPU stays float32, as in `compare`
torch.backends.cudnn.allow_tf32 = False


def pytest_report_header(config):
    return [f"benches: {line}" for line in report.machine_lines(machine.describe(THREADS))]


@pytest.fixture(scope="session")
def agreed():
    """agreed(size, dtype, device): the harness has checked this size's twins agree (once per session)."""
    checked = set()

    def check(size: str, dtype: str, device: str) -> None:
        if (size, dtype, device) not in checked:
            timing.check_agreement(sizes.SIZES[size], dtype, device)
            checked.add((size, dtype, device))

    return check
