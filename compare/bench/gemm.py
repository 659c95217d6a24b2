"""The machine's limit: the float32 GEMM ceiling a step's GFLOP/s are measured against."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from compare.engine.twins import synchronize


class GemmProbe:
    """The float32 GEMM ceiling of a device: GFLOP/s of C = A·B on n×n matrices (2n³ flops), through NumPy's BLAS
    on "cpu" and torch.mm on "cuda" (TF32 off, as `main` sets it), sampled once per timing round, just after
    the backends, so that it sees the machine they saw.
    """

    def __init__(self, n: int, device: str = "cpu"):
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        self.multiply: Callable[[], object]
        if device == "cpu":
            c = np.empty_like(a)
            self.multiply = lambda: np.matmul(a, b, out=c)
        else:
            a_t, b_t = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
            c_t = torch.empty_like(a_t)

            def multiply() -> None:
                torch.mm(a_t, b_t, out=c_t)
                synchronize(device)
            self.multiply = multiply
        self.n, self.device = n, device
        self.samples: list[float] = []
        self.multiply()  # warm-up: thread pool, pages, kernels

    def sample(self) -> float:
        start = time.perf_counter()
        self.multiply()
        self.samples.append(2 * self.n ** 3 / (time.perf_counter() - start) / 1e9)
        return self.samples[-1]
