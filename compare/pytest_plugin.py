"""pytest plugin (entry point `pytest11`, loaded wherever backprop-crosscheck is installed): the `crosscheck`
and `rng` fixtures and the `--crosscheck-dtype` / `--crosscheck-seed` options.

A user's test of a hand-written layer is then three lines:

    from swish import Swish, TorchSwish

    def test_swish(crosscheck):
        crosscheck.module_matches(Swish(5), TorchSwish(5), lambda rng: rng.standard_normal((4, 5)))

`crosscheck.module_matches` is compare.testing.assert_module_matches and `crosscheck.model_trains_like` is
assert_model_trains_like (once per dtype, on copies cast to it), with the dtypes and seed of the command line
(explicit keyword arguments win: `dtypes=` / `dtype=`, `seed=`).
Without the entry point installed, load it with `pytest -p compare.pytest_plugin`. torch and compare.testing
are imported only when a test asks for `crosscheck`, so the plugin costs other test runs nothing.
"""
import argparse

import numpy as np
import pytest

DTYPE_CHOICES = {"float32": ("float32",), "float64": ("float64",), "both": ("float32", "float64")}


def seed(text: str) -> int:
    """--crosscheck-seed's type: a seed both torch.manual_seed and NumPy's generators take, in [0, 2**64 - 1]
    (refused when pytest reads the command line, not in every test that asks for a fixture)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2 ** 64:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64 - 1], got {text!r}")
    return value


def pytest_addoption(parser):
    group = parser.getgroup("crosscheck", "manual vs torch checks (backprop-crosscheck)")
    group.addoption("--crosscheck-dtype", choices=sorted(DTYPE_CHOICES), default="both",
                    help="dtypes the crosscheck fixture compares in (default: both)")
    group.addoption("--crosscheck-seed", type=seed, default=0,
                    help="seed of the rng fixture and of the inputs crosscheck draws (default: 0)")


class CrossCheck:
    """compare.testing's assertions with the run's dtypes and seed filled in."""

    def __init__(self, dtypes: tuple, seed: int):
        self.dtypes, self.seed = dtypes, seed

    def module_matches(self, manual_module, torch_module, inputs, **options):
        __tracebackhide__ = True
        from compare.testing import assert_module_matches
        return assert_module_matches(manual_module, torch_module, inputs,
                                     **{"dtypes": self.dtypes, "seed": self.seed, **options})

    def model_trains_like(self, manual_model, torch_model, loss, optimizer, batches, steps, **options):
        """assert_model_trains_like in each dtype of the run (`dtype=` given: that one only). One dtype: the
        instances themselves, cast to it. Several: each on deep copies of the models, losses, optimizers and
        scheduler, made together (so each optimizer holds its copy's parameters) and cast to that dtype. Returns
        the CaseResult per dtype."""
        __tracebackhide__ = True
        import copy
        import itertools
        import warnings

        from compare.testing import assert_model_trains_like
        dtypes = (options.pop("dtype"),) if "dtype" in options else self.dtypes
        bundle = (manual_model, torch_model, loss, optimizer, options.pop("scheduler", None))
        if len(dtypes) > 1 and not callable(batches):  # every dtype trains on the same batches
            batches = list(itertools.islice(iter(batches), steps))
        results = {}
        for dtype in dtypes:
            *pairs, scheduler = copy.deepcopy(bundle) if len(dtypes) > 1 else bundle
            with warnings.catch_warnings():  # a copied torch optimizer loses the scheduler's step counter wrapper;
                # the harness calls optimizer.step() before scheduler.step(), which is all that warning checks
                warnings.filterwarnings("ignore", message=r"Seems like `optimizer.step\(\)` has been overridden")
                results[dtype] = assert_model_trains_like(*pairs, batches, steps, **{
                    "seed": self.seed, **options, "scheduler": scheduler, "dtype": dtype})
        return results


@pytest.fixture
def crosscheck(request) -> CrossCheck:
    config = request.config
    return CrossCheck(DTYPE_CHOICES[config.getoption("crosscheck_dtype")], config.getoption("crosscheck_seed"))


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A NumPy generator seeded by --crosscheck-seed (default 0): the same draws on every run."""
    return np.random.default_rng(request.config.getoption("crosscheck_seed"))
