"""One worker process of the pool (compare/workers/pool.py): one torch thread, one BLAS thread (the pool starts it
with the thread limits in its environment, before NumPy and torch load), checks one run at a time.

Protocol over one duplex pipe: the worker sends ("ready", pid, boot seconds), then answers each ticket (index,
kind, name, dtype, device, steps, seed, payload) with ("done", index, CaseResult, CPU seconds); None ends it.
`payload` is None for a built-in case (found by kind and name in this process's catalogues) or the pickled
(case, registrations) of a case user code registered in the parent (compare.registry): the classes it names are
registered here before it runs.
"""
import os
import pickle
import signal
import time

import torch
import torch._dynamo  # noqa: F401  (torch's one-time lazy import at its first optimizer, done once in the forkserver)

from compare import registry
from compare.checks import main_job, selection
from compare.engine.step_loop import CaseResult

_BUILT_IN: dict[tuple[str, str], selection.AnyCase] = {}  # (kind, name) -> case, the first of each, made at first use


def resolve(kind: str, name: str, dtype: str, device: str, payload: bytes | None) -> selection.Run:
    """The run a ticket names; a registered case's classes are registered in this process first. A built-in case
    is looked up in this process's catalogues, indexed once (no case is registered here but with its ticket)."""
    if payload is None:
        if not _BUILT_IN:
            for found_kind, case in selection.catalogue():
                _BUILT_IN.setdefault((found_kind, case.name), case)
        found = _BUILT_IN.get((kind, name))
        if found is None:
            raise KeyError(f"no {kind} case named {name!r}")
        return selection.Run(kind, found, dtype, device)
    case, registrations = pickle.loads(payload)
    for table, entry_name, classes in registrations:
        register = registry.register_module if table == "module" else registry.register_optimizer
        register(entry_name, *classes, replace=True)
    return selection.Run(kind, case, dtype, device)


def serve(connection, started: float) -> None:
    """The worker's main loop (the process target). Ctrl-C is the parent's to handle: it ends the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    connection.send(("ready", os.getpid(), time.time() - started))
    while True:
        ticket = connection.recv()
        if ticket is None:
            return
        index, kind, name, dtype, device, steps, seed, payload = ticket
        cpu = time.process_time()
        try:
            run = resolve(kind, name, dtype, device, payload)
        except Exception as error:
            result = CaseResult(name, dtype, device, 0, kind=kind, error=f"{type(error).__name__}: {error}")
        else:
            result = main_job.execute_safely(run, steps, seed)
        connection.send(("done", index, result, time.process_time() - cpu))
