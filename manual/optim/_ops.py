"""The fused elementwise ops torch's optimizers use (`add(alpha=)`, `addcmul`, `addcdiv`, `lerp`), rounded as
torch's CPU kernels round them, so a float32 run follows torch's float32 run bit for bit.

Measured against torch 2.13.0+cpu on 10^6 random float32 values (tests/manual/test_optim.py keeps checking it):

| torch op                          | what the CPU kernel computes          | a plain NumPy expression is off by |
|-----------------------------------|---------------------------------------|------------------------------------|
| `a.add(b, alpha=s)`               | fma(b, s, a): one rounding            | 1 ulp in ~19% of elements          |
| `a.addcmul(b, c, value=s)`        | fma(s·b, c, a): s·b rounded, then fma | 1 ulp in ~16%                      |
| `a.addcdiv(b, c, value=s)`        | a + (s·b)/c, three roundings          | exact (no fma)                     |
| `a.lerp(b, w)`, abs(w) < 0.5      | fma(w, b - a, a)                      | 1 ulp in ~11% (w = 0.1)            |
| `a.lerp(b, w)`, abs(w) >= 0.5     | b - (b - a)·(1 - w), fused            | 1 ulp in ~25-50%                   |

A float32 fma is emulated exactly by computing in float64 and rounding once: the product of two float32
values is exact in float64, and the float64 sum rounded to float32 equals the single-rounded fma except in
~2^-29 of cases (double rounding). Scalars are cast to float32 first, as torch casts a Python scalar to the
tensor's dtype. In float64 NumPy has no fma: the plain expression differs from torch's by <= 1 ulp per op,
far inside the 1e-12 checks. `sqrt` is not emulated: torch's vectorised float32 sqrt (AVX-512 here) is
not correctly rounded (1 ulp off NumPy's in ~0.7% of elements), so float32 runs can differ by 1 ulp there.

Every scalar goes through `float()`: under NumPy 2 (NEP 50) a `np.float64` scalar would silently promote a
float32 array to float64, while a Python float keeps it float32.
"""
import numpy as np


def _is_float32(array: np.ndarray) -> bool:
    return array.dtype == np.float32


def _fma32(x, y, z) -> np.ndarray:
    """round32(x·y + z) from float32 inputs, computed in float64 (x·y is exact there)."""
    return (np.asarray(x, np.float64) * np.asarray(y, np.float64) + np.asarray(z, np.float64)).astype(np.float32)


def add(a: np.ndarray, b: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """torch.add(a, b, alpha=alpha) = a + alpha·b."""
    alpha = float(alpha)
    if _is_float32(a):
        return _fma32(b, np.float32(alpha), a)
    return a + alpha * b


def add_(a: np.ndarray, b: np.ndarray, alpha: float = 1.0) -> None:
    """a.add_(b, alpha=alpha): a += alpha·b in place, rounded as `add`, with one temporary the size of b."""
    alpha = float(alpha)
    if _is_float32(a):
        fused = b.astype(np.float64)
        fused *= float(np.float32(alpha))  # exact: two float32 significands fit in a float64 one
        fused += a
        a[...] = fused  # the one rounding to float32
    else:
        a += alpha * b


def addcmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, value: float = 1.0) -> np.ndarray:
    """torch.addcmul(a, b, c, value=value) = a + value·b·c."""
    value = float(value)
    if _is_float32(a):
        return _fma32(value * b, c, a)
    return a + value * b * c


def addcdiv(a: np.ndarray, b: np.ndarray, c: np.ndarray, value: float = 1.0) -> np.ndarray:
    """torch.addcdiv(a, b, c, value=value) = a + (value·b)/c."""
    return a + (float(value) * b) / c


def lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """torch.lerp(start, end, weight) = start + weight·(end - start), evaluated from the nearer end:

        start + w·(end - start)        if |w| < 0.5
        end - (end - start)·(1 - w)    otherwise
    """
    weight = float(weight)
    diff = end - start
    if _is_float32(start):
        w = np.float32(weight)
        return _fma32(w, diff, start) if abs(weight) < 0.5 else _fma32(-diff, np.float32(1) - w, end)
    return start + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)
