"""Where the worker processes come from, without importing torch here: the multiprocessing context, and a forkserver
started as early as `python -m compare` knows it will need one (compare/__main__.py), so that the server imports
torch and what the command's processes run while this process imports them too, on the other core: the check's
workers (compare/workers/worker.py), `ddp`'s ranks (compare/distributed/launcher.py) and the processes that draw
`plots`' figures (compare/workers/tasks.py), each command preloading its own modules (`PRELOADS`).

'forkserver' where the platform has it: a clean server process (no threads, no torch state used) imports the
modules once, then forks each process from it; else 'spawn'. Processes started inside
`single_threaded_environment` get one BLAS/OpenMP thread (read before NumPy and torch load); this process's own
environment is restored after.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import threading

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
NO_WORKERS = {"-h", "--help", "--version", "--list", "-j1", "--jobs=1"}  # command lines that start no worker
# what the server imports for each command whose processes it forks (named, not imported: no torch here), first
# its quick exit (compare/workers/server_exit.py)
EXIT = "compare.workers.server_exit"
PARENT_VARIABLE = "COMPARE_SERVER_PARENT"  # the id of the process whose end ends the server (read by EXIT)
PRELOADS = {"check": [EXIT, "compare.workers.worker"], "ddp": [EXIT, "torch._dynamo", "compare.distributed.rank"],
            "plots": [EXIT, "torch._dynamo", "matplotlib.figure", "matplotlib.backends.backend_agg", "PIL.Image"]}


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return os.cpu_count() or 1


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


def context(command: str = "check"):
    """The context `command`'s processes start from; the forkserver preloads `PRELOADS[command]` unless it is
    already running (it then forks from what it has, and each process imports the rest itself)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOADS[command])
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
    `ddp`, or `plots` drawing more than one figure on more than one process."""
    words, pairs = set(argv), set(zip(argv, argv[1:], strict=False))
    one_process = bool({"-j1", "--jobs=1"} & words or {("-j", "1"), ("--jobs", "1")} & pairs)
    figures = sum(word == "--only" or word.startswith("--only=") for word in argv)  # plots: each names one
    if argv[:1] == ["ddp"]:
        command, starts = "ddp", not {"-h", "--help"} & words
    elif argv[:1] == ["plots"]:
        command, starts = "plots", not ({"-h", "--help"} & words or one_process or figures == 1)
    else:
        command = "check"
        starts = (not argv or argv[0] == "check" or argv[0].startswith("-") and argv[0] not in NO_WORKERS) \
            and not NO_WORKERS & words and not one_process
    if starts and context(command).get_start_method() == "forkserver":
        with single_threaded_environment(), server_ends_with_this_process():
            multiprocessing.forkserver.ensure_running()


@contextlib.contextmanager
def server_ends_with_this_process():
    """A forkserver started inside ends when this process does, even while it still imports (a refused command line
    returns before that: compare/workers/server_exit.py). Only from the main thread, whose end is the process's:
    the kernel kills a server when the thread that started it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    os.environ[PARENT_VARIABLE] = str(os.getpid())
    try:
        yield
    finally:
        os.environ.pop(PARENT_VARIABLE, None)
