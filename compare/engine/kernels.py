"""The CPU kernel settings torch and NumPy can be forced to, and probes of which kernels run.

torch reads ATEN_CPU_CAPABILITY and NumPy's OpenBLAS reads OPENBLAS_CORETYPE when they load, so a setting
takes effect in a new process started with `environment(setting)` (compare/cli/kernels.py runs the check so).
"""
import os

SETTINGS = {  # name -> environment variables (on top of the caller's, with these two removed first)
    "best": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "openblas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
}


KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE")


def environment(setting: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES}
    return {**env, **SETTINGS[setting]}


def torch_fuses_multiply_add() -> bool:
    """Whether torch's float32 CPU kernels round a + s·b once (fused multiply-add), as its vectorised AVX2/AVX512
    kernels do and its DEFAULT (baseline x86-64, no FMA) kernels do not. manual/optim/_ops.py emulates the fused
    rounding, so float32 update rules match torch bit for bit only where this is True; elsewhere they differ by
    one rounding per fused op. Measured on a probe, not read from the capability's name."""
    import numpy as np
    import torch
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(4096).astype(np.float32) for _ in range(2))
    s = np.float32(0.3)
    fused = (a.astype(np.float64) + b.astype(np.float64) * float(s)).astype(np.float32)
    return bool(np.array_equal(torch.from_numpy(a).add(torch.from_numpy(b), alpha=float(s)).numpy(), fused))


def kernels_in_use() -> dict:
    """torch's CPU capability and, where threadpoolctl is installed, each BLAS library's core type."""
    import torch
    found = {"torch": torch.backends.cpu.get_cpu_capability()}
    try:
        from threadpoolctl import threadpool_info
        found.update((f"{info['internal_api']} ({info.get('prefix', '')})", info.get("architecture"))
                     for info in threadpool_info() if info.get("user_api") == "blas")
    except ImportError:
        pass
    return found
