"""Where the workers come from, without importing torch here: the multiprocessing context, and a forkserver started
as early as `python -m compare` knows it will need one (compare/__main__.py), so that the server imports torch and
the catalogues while this process imports them too, on the other core. `ddp` forks its ranks from the same
server (compare/distributed/launcher.py), which then preloads the rank's module instead.

'forkserver' where the platform has it: a clean server process (no threads, no torch state used) imports
compare/workers/worker.py once, then forks each worker from it; else 'spawn'. Processes started inside
`single_threaded_environment` get one BLAS/OpenMP thread (read before NumPy and torch load); this process's own
environment is restored after.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
NO_WORKERS = {"-h", "--help", "--version", "--list", "-j1", "--jobs=1"}  # command lines that start no worker
RANK_MODULE = "compare.distributed.rank"  # what the server preloads for `ddp` (named, not imported: no torch here)


@contextlib.contextmanager
def single_threaded_environment():
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["compare.workers.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


def serve(connection, started: float) -> None:
    """The worker process's target: compare/workers/worker.py's loop. Named here, so that the caller pickles a
    reference to this light module rather than importing the worker's (torch, torch._dynamo, the catalogues),
    which the forkserver has already imported for its children."""
    from compare.workers import worker
    worker.serve(connection, started)


def start_early(argv: list[str]) -> None:
    """Start the forkserver now when `argv` (a `python -m compare` command line) is a check that will use workers,
    or `ddp`, whose ranks are forked from it."""
    if argv[:1] == ["ddp"] and not {"-h", "--help"} & set(argv):
        if "forkserver" in multiprocessing.get_all_start_methods():
            multiprocessing.get_context("forkserver").set_forkserver_preload([RANK_MODULE])
            multiprocessing.forkserver.ensure_running()
        return
    check = not argv or argv[0] == "check" or argv[0].startswith("-") and argv[0] not in NO_WORKERS
    pairs = set(zip(argv, argv[1:], strict=False))
    if not check or NO_WORKERS & set(argv) or {("-j", "1"), ("--jobs", "1")} & pairs:
        return
    if context().get_start_method() == "forkserver":
        with single_threaded_environment():
            multiprocessing.forkserver.ensure_running()
