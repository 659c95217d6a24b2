"""erf in NumPy (Cody's rational approximations, manual.nn.functional.erf), under GELU's exact form.

Accuracy against math.erf (the C library's, correctly rounded to within 1 ulp) on a dense grid with the tails
and special values; against torch.erf; and the memory of GELU (the former np.vectorize(math.erf) went through
Python per element and peaked at 20x the output's size).
"""
import math
import tracemalloc

import numpy as np
import pytest
import torch

from manual.nn.functional.activation import gelu, gelu_backward
from manual.nn.functional.erf import erf


def grid():
    dense = np.linspace(-7.0, 7.0, 400_001)
    tails = np.geomspace(1e-300, 40.0, 20_000)
    edges = np.array([0.0, 0.55, np.nextafter(0.55, 1), 4.0, np.nextafter(4.0, 5), 6.0, np.nextafter(6.0, 5), 27.0,
                      1e300, np.finfo(np.float64).tiny, 5e-324])
    return np.concatenate([dense, tails, -tails, edges, -edges])


def ulps(got, expected):
    return np.abs(got - expected) / np.spacing(np.abs(expected))


def test_erf_is_within_two_ulp_of_math_erf_and_one_ulp_below_0_55():
    x = grid()
    expected = np.array([math.erf(v) for v in x])
    error = ulps(erf(x), expected)
    assert error.max() <= 2, (x[np.argmax(error)], error.max())
    assert error[np.abs(x) <= 0.55].max() <= 1
    assert (error > 1).mean() < 1e-3  # 2 ulp only for a few arguments in 0.55 < |x| < 1


def test_erf_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-320])
    got = erf(x)
    np.testing.assert_array_equal(got[:2], [1.0, -1.0])
    assert np.isnan(got[2]) and got[3] == 0 and np.signbit(got[4])
    assert got[5] == math.erf(1e-320)


def test_erf_agrees_with_torch_and_keeps_float32():
    x = np.random.default_rng(0).standard_normal((300, 70)) * 3
    np.testing.assert_allclose(erf(x), torch.erf(torch.from_numpy(x)).numpy(), rtol=4e-16, atol=0)
    x32 = x.astype(np.float32)
    assert erf(x32).dtype == np.float32
    np.testing.assert_array_equal(erf(x32), erf(x32.astype(np.float64)).astype(np.float32))  # float32 via float64


def test_erf_in_place_and_on_strided_arrays():
    x = np.random.default_rng(1).standard_normal((200, 400))
    expected = erf(x)
    np.testing.assert_array_equal(erf(x[:, ::3]), expected[:, ::3])
    out = x.copy()
    assert erf(out, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("function", [lambda x: gelu(x), lambda x: gelu_backward(x, x)], ids=["forward", "backward"])
def test_gelu_memory_stays_near_the_output_size(function):
    x = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32)
    tracemalloc.start()
    function(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 3 * x.nbytes, f"peak {peak / x.nbytes:.1f}x the output"
