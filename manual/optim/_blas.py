"""An optional fast path for SGD's float32 update: BLAS `saxpy` (y ← a·x + y), when it rounds as torch does.

torch's float32 `p.add_(g, alpha=a)` on a CPU with FMA computes fma(a, g, p): one rounding (`_ops.add_`
emulates that exactly in float64, four NumPy passes and a float64 temporary). OpenBLAS's saxpy kernels for
Haswell and later also compute fma(a, x, y) in place, with no temporary: measured bit-identical to torch's
`add_` on 10⁶ random elements, and 3-7x faster than the emulation from 16 to 10⁶ elements (2 cores).

Neither property is guaranteed: scipy is optional (manual needs only NumPy), and which saxpy kernel runs
depends on the CPU and on OPENBLAS_CORETYPE (an older kernel multiplies, then adds: two roundings). So the
path is taken only when scipy imports AND `saxpy` reproduces the fused rounding bit for bit on a probe whose
elements are chosen to expose double rounding (`_probe_is_fused`); otherwise `fused_saxpy` is None and SGD
keeps the NumPy emulation. Either way the result is fma(a, x, y) rounded once.

OpenBLAS runs saxpy on several threads above 10,000 elements; on a loaded 2-core machine a threaded call
stalled ~8 ms. Calls go in blocks of `BLOCK` elements, which keeps every call on one thread without touching
the process's BLAS thread settings.
"""
from __future__ import annotations

import numpy as np

BLOCK = 8192  # elements per saxpy call: below OpenBLAS's threading threshold (10,000)
FLOAT32 = np.dtype(np.float32)  # native byte order; NumPy keeps one instance, so `is` tests the dtype


def _load_saxpy():
    try:
        from scipy.linalg.blas import saxpy
    except ImportError:  # scipy is optional
        return None
    return saxpy


PROBE_LENGTHS = (*range(1, 65), 4096 + 37, BLOCK)


def _probe_is_fused(saxpy) -> bool:
    """True when saxpy(x, y, a) equals round32(a·x + y) (one rounding) at every length of PROBE_LENGTHS, on
    random elements where about a fifth of the results differ between one rounding and two. Every short length
    and a long one with a tail: within one kernel the vector body and the scalar tail may round differently
    (OpenBLAS's Haswell saxpy fuses its vector body but not tails, measured: 19 of the lengths 1-69 round twice)."""
    rng = np.random.default_rng(0)
    a = np.float32(-0.0137)
    for n in PROBE_LENGTHS:
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        fused = (x.astype(np.float64) * float(a) + y.astype(np.float64)).astype(np.float32)
        if not np.array_equal(saxpy(x, y.copy(), a=a), fused):
            return False
    return True


def _fused_saxpy():
    saxpy = _load_saxpy()
    if saxpy is None or not _probe_is_fused(saxpy):
        return None

    def axpy_(target: np.ndarray, alpha: float, x: np.ndarray) -> bool:
        """target ← round32(alpha·x + target) in place; False (nothing done) unless both are C-contiguous
        native float32 arrays of one shape."""
        if not (target.dtype is FLOAT32 and x.dtype is FLOAT32 and target.shape == x.shape
                and target.flags.c_contiguous and x.flags.c_contiguous and target.flags.writeable):
            return False
        flat_target, flat_x = target.reshape(-1), x.reshape(-1)
        a = np.float32(alpha)
        if flat_target.size <= BLOCK:
            saxpy(flat_x, flat_target, a=a)
            return True
        for start in range(0, flat_target.size, BLOCK):
            block = slice(start, start + BLOCK)
            saxpy(flat_x[block], flat_target[block], a=a)  # in place: saxpy overwrites its y argument
        return True

    return axpy_


def __getattr__(name: str):
    """`fused_saxpy` is decided on first use (importing scipy.linalg and probing costs ~0.2 s), then kept."""
    if name == "fused_saxpy":
        globals()["fused_saxpy"] = _fused_saxpy()
        return globals()["fused_saxpy"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
