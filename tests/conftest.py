"""Test-wide settings: a fixed, bounded hypothesis profile so property tests cost the same on every run, and
one torch thread, as `python -m compare` runs (its --threads defaults to 1).

The tests' tensors are tiny: a second torch thread only adds hand-offs, and on a shared 2-core machine, where
NumPy's OpenBLAS threads spin after each product (compare/bench/timing.py's `settle`), every torch op then waits for a
core: the catalogue's tests took 3x as long with torch's default of 2 threads (measured: 17.6 s vs 5.6 s for
tests/catalogue/test_catalogue.py -k mlp6-7 at load 3.5). Tests of a command that sets the count and must put it back use
the `torch_threads` fixture, which gives them a count the command would not choose itself.

The run is spread over one pytest-xdist worker per core (pyproject.toml's `-n auto`): the workers, started after
`pytest_configure`, get one BLAS/OpenMP thread each in their environment (unless the caller set a count), so two
workers on two cores do not each spin a second BLAS thread. The controller that starts them runs no test, so it
imports neither torch nor hypothesis (about 2 s before any worker could start). Every test is independent of the
others' order and process: temporary files under tmp_path, environment changes through monkeypatch, free ports
(port 0) for DDP.

The workers take whole files (`--dist loadfile`: a module's fixtures are set up once, its imports made in one worker;
tests/torch_samples/ is one unit, its files sharing torch's module_db, 2 s to import in a process, and so is
tests/workers/, its files sharing the forkserver a test starts, 2-3 s of CPU to start), and the files holding a test
marked `heavy` (seconds of CPU: child processes, many case runs) come first, then the rest of those two folders, so
that at the end the short files fill in around the last long unit instead of one worker waiting for the other's
(tests/torch_samples/, 4 s, last in the queue, kept one worker busy 1.8 s after the other had finished).

A process that runs tests holds about 600,000 objects the collector tracks, nearly all made by the imports (torch,
torch._dynamo, the test modules) and the collection, and alive to the end. Each full collection walked them all,
0.2-0.26 s, 15-16 times per worker. After the collection they are frozen (gc.freeze), so a full collection walks only
what the tests made since; at the end, all that is alive is frozen again, so the interpreter's shutdown does not walk
it either.
"""
import gc
import os

import pytest

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SHARED_UNITS = ("tests/torch_samples/", "tests/workers/")  # folders a pytest-xdist worker takes whole (below)


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own plugin, so that its --hypothesis-profile still wins
def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        for name in THREAD_VARIABLES:  # the controller, before it starts the workers
            os.environ.setdefault(name, "1")
        return
    import torch
    import torch._dynamo  # noqa: F401  the first torch optimizer imports it (torch/_compile.py): here, to be frozen
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=500, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    torch.set_num_threads(1)


def pytest_collection_finish(session):
    """What the imports and the collection made lives to the end of the run: out of the collector's reach."""
    gc.freeze()


def pytest_unconfigure(config):
    """What is alive at the end, frozen too: the interpreter's shutdown then does not walk it (a worker's shutdown
    took about 1 s, the controller waiting for it)."""
    gc.freeze()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's; the controller asks it once, before the workers collect
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with tests/torch_samples/ and tests/workers/ one unit of work each (above); None: xdist's
    own for other modes."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndSharedFolders(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            unit = super()._split_scope(nodeid)
            return next((folder for folder in SHARED_UNITS if unit.startswith(folder)), unit)

    return FilesAndSharedFolders(config, log)


def pytest_collection_modifyitems(config, items):
    """The files holding a `heavy` test first, each whole and in its order; then the folders a worker takes whole
    (several files' work each); the rest after, in theirs."""
    heavy = {item.path for item in items if item.get_closest_marker("heavy")}
    items.sort(key=lambda item: (item.path not in heavy, not item.nodeid.startswith(SHARED_UNITS)))


@pytest.fixture
def torch_threads():
    """torch's thread count set to 3 for the test (no command here defaults to 3), then 1 again."""
    import torch
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(1)
