"""SGD's optional BLAS update (manual/optim/_blas.py): taken only when it rounds as torch's fused add_, and then
bit-identical to the NumPy emulation it replaces."""
import numpy as np
import pytest

from manual.optim import _blas, sgd
from manual.optim._ops import add

SHAPES = [(), (7,), (3, 5), (_blas.BLOCK,), (_blas.BLOCK + 3,), (300, 100), (5, 4000, 2)]


@pytest.mark.parametrize("use_blas", [True, False], ids=["blas", "numpy"])
@pytest.mark.parametrize("shape", SHAPES)
def test_add_scaled_equals_the_fused_emulation_bit_for_bit(shape, use_blas, monkeypatch):
    if use_blas and _blas.fused_saxpy is None:
        pytest.skip("no scipy saxpy that rounds once on this machine: SGD uses the NumPy emulation")
    if not use_blas:
        monkeypatch.setattr(_blas, "fused_saxpy", None)
    rng = np.random.default_rng(1)
    target, x = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    expected = add(target, x, alpha=-0.01)  # torch's add_ rounding, on the whole array at once
    address = target.__array_interface__["data"][0]
    sgd.add_scaled_(target, -0.01, x)
    np.testing.assert_array_equal(target, expected)
    assert target.dtype == np.float32 and target.__array_interface__["data"][0] == address  # in place


@pytest.mark.parametrize("make", [
    lambda t, x: (t[:, ::2], x[:, ::2]),                      # not contiguous
    lambda t, x: (t.astype(np.float64), x.astype(np.float64)),  # float64
    lambda t, x: (t, x[:1]),                                   # broadcast
], ids=["strided", "float64", "broadcast"])
def test_blas_path_declines_what_saxpy_cannot_do_in_place(make):
    if _blas.fused_saxpy is None:
        pytest.skip("no fused scipy saxpy here")
    rng = np.random.default_rng(2)
    target, x = make(rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((4, 6)).astype(np.float32))
    before = target.copy()
    assert _blas.fused_saxpy(target, -0.5, x) is False
    np.testing.assert_array_equal(target, before)


def test_probe_refuses_a_saxpy_that_rounds_twice():
    def two_roundings(x, y, a):
        y[...] = x * a + y  # float32 product rounded, then the sum rounded
        return y
    assert _blas._probe_is_fused(two_roundings) is False


def test_probe_accepts_a_saxpy_that_rounds_once():
    def one_rounding(x, y, a):
        y[...] = (x.astype(np.float64) * float(a) + y).astype(np.float32)
        return y
    assert _blas._probe_is_fused(one_rounding) is True


def test_probe_refuses_a_saxpy_whose_tail_rounds_twice():
    """OpenBLAS's Haswell kernel: the vector body of 8-element chunks fused, the tail not."""
    def fused_body_only(x, y, a):
        body = len(x) // 8 * 8
        y[:body] = (x[:body].astype(np.float64) * float(a) + y[:body]).astype(np.float32)
        y[body:] = x[body:] * a + y[body:]
        return y
    assert _blas._probe_is_fused(fused_body_only) is False


def test_a_float64_update_never_decides_on_blas(monkeypatch):
    """saxpy is single precision: a large float64 update takes the emulation without importing SciPy or probing
    (`fused_saxpy` undecided stays undecided)."""
    monkeypatch.delattr(_blas, "fused_saxpy", raising=False)
    monkeypatch.setattr(_blas, "_fused_saxpy", lambda: pytest.fail("a float64 update decided on BLAS"))
    rng = np.random.default_rng(3)
    target, x = rng.standard_normal(2 * sgd.SAXPY_FROM), rng.standard_normal(2 * sgd.SAXPY_FROM)
    expected = add(target, x, alpha=-0.01)
    sgd.add_scaled_(target, -0.01, x)
    np.testing.assert_array_equal(target, expected)
    assert "fused_saxpy" not in vars(_blas)
