"""The machine a benchmark ran on, and the thread counts it ran with (NumPy's BLAS and torch, pinned equal)."""
from __future__ import annotations

import os
import platform
import re

import numpy as np
import torch


def _numpy_blas_pools() -> list[dict]:
    """threadpoolctl's records of the BLAS libraries NumPy loaded ([] when threadpoolctl is not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    return [pool for pool in pools if "numpy" in pool["filepath"]] or pools[:1]


def pin_threads(threads: int) -> dict:
    """torch.set_num_threads and, through threadpoolctl, NumPy's BLAS (and any OpenMP pool) to `threads`.

    Without threadpoolctl the BLAS keeps what OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS said
    when NumPy was imported; the report then says the BLAS count is unknown.
    """
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        threadpool_limits(limits=threads)  # stays in force for the whole process
    pools = _numpy_blas_pools()
    return {"requested": threads, "torch": torch.get_num_threads(),
            "numpy_blas": pools[0]["num_threads"] if pools else None}


def _cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it: model name, family/model/stepping (which tell the generation when the
    name is generic, as under a hypervisor), the SIMD extensions the kernels pick from, and the cores."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown"

    def field(name):
        found = re.search(rf"^{name}\s*:\s*(.+)$", text, re.M)
        return found.group(1).strip() if found else None

    flags = (field("flags") or "").split()
    simd = [f for f in ("avx2", "fma", "avx512f", "amx_tile") if f in flags]
    cores = {pair for pair in re.findall(r"^physical id\s*:\s*(\d+)$.*?^core id\s*:\s*(\d+)$", text, re.M | re.S)}
    described = field("model name") or platform.processor() or "unknown"
    ident = [f"{key} {field(name)}" for key, name in (("family", "cpu family"), ("model", "model"),
                                                        ("stepping", "stepping")) if field(name)]
    details = ident + simd + ([f"{len(cores)} physical cores"] if cores else []) + (
        ["virtual machine"] if "hypervisor" in flags else [])
    return described + (f" ({', '.join(details)})" if details else "")


def describe(threads: dict) -> dict:
    pools = _numpy_blas_pools()
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    numpy_blas = f"{blas.get('name')} {blas.get('version')}"
    if pools:
        numpy_blas += f" ({pools[0]['internal_api']} kernel {pools[0].get('architecture')}, " \
                      f"{pools[0].get('threading_layer')} threads)"
    torch_blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    try:
        import sklearn
        sklearn_version = sklearn.__version__
    except ImportError:
        sklearn_version = None
    return {
        "cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "numpy_blas": numpy_blas,
        "torch": torch.__version__, "torch_blas": torch_blas.group(1) if torch_blas else "unknown",
        "torch_mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "scikit_learn": sklearn_version, "threads": threads,
    }
