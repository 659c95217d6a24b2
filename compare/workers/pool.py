"""Case runs in worker processes (`python -m compare -j N`): each worker checks one run at a time and sends back
its CaseResult; the caller places it by index, so the report's rows and their order do not depend on N.

- Start method: 'forkserver' where the platform has it (a clean server process imports torch and the catalogues
  once, then forks each worker from it: no parent threads or torch state are forked), else 'spawn'
  (compare/workers/server.py). Each worker runs one torch thread and one BLAS thread (compare/workers/worker.py).
- A case that user code registered in this process (compare.registry) travels pickled with the classes it names;
  one that cannot be pickled (a lambda among its inputs) runs here, in this process.
- A worker that dies (killed, os._exit, a crash in native code) becomes a FAIL result naming the case and the
  cause; a fresh worker takes its place and the other runs go on. Never a hang: the wait covers every worker's
  pipe and its process sentinel.
- Ctrl-C (KeyboardInterrupt in the caller): every worker is terminated (then killed) and joined before it
  propagates, so no process is left behind; the caller reports the runs that finished.
"""
from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from compare import registry
from compare.checks.main_job import Run
from compare.engine.step_loop import TIMED, CaseResult
from compare.workers.server import context, serve, single_threaded_environment

Done = Callable[[int, CaseResult], None]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return os.cpu_count() or 1


@dataclass
class WorkerStats:
    """One worker's share of the run (`python -m compare --profile`): its process id, its start-up (interpreter,
    imports) in seconds, and the summed timing parts of the runs it checked."""

    pid: int = 0
    boot: float = 0.0
    runs: int = 0
    cpu: float = 0.0  # CPU seconds of its runs (below their wall time when other processes share the cores)
    seconds: dict = field(default_factory=lambda: dict.fromkeys(TIMED + ("total",), 0.0))

    def add(self, result: CaseResult) -> None:
        self.runs += 1
        for part, value in result.timing.items():
            self.seconds[part] = self.seconds.get(part, 0.0) + value


def _registrations(case) -> list:
    """(table, name, (manual class, torch class)) for every registered class the case names."""
    specs = [getattr(case, attribute, None) for attribute in ("module", "model", "loss")]
    found = [("module", spec[0], registry.module_classes(spec[0])) for spec in specs if spec]
    optimizer = getattr(case, "optimizer", None)
    if optimizer and not isinstance(optimizer, str):
        found.append(("optimizer", optimizer[0], registry.optimizer_classes(optimizer[0])))
    return [entry for entry in found if entry[2] is not None]


def ticket_payload(run: Run) -> tuple[bool, bytes | None]:
    """(whether a worker can run it, the pickled case for one registered here, else None)."""
    if not any(run.case is case for case in registry.module_cases() + registry.training_cases()):
        return True, None
    try:
        return True, pickle.dumps((run.case, _registrations(run.case)))
    except Exception:  # a lambda or a local class: only this process can run it
        return False, None


def death_cause(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


class _Worker:
    def __init__(self, ctx):
        self.connection, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, time.time()), daemon=True)
        with single_threaded_environment():
            self.process.start()
        child.close()
        self.stats = WorkerStats(pid=self.process.pid or 0)
        self.ready = False
        self.index: int | None = None  # the run it is checking

    def send(self, index: int, run: Run, steps, seed, payload) -> None:
        self.index = index
        self.connection.send((index, run.kind, run.name, run.dtype, run.device, steps, seed, payload))

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def run_all(runs: list[Run], jobs: int, steps, seed, done: Done,
            local: Callable[[Run], CaseResult]) -> list[WorkerStats]:
    """Check every run on `jobs` worker processes; `done(index, result)` as each finishes (in any order).
    `local(run)` checks a run in this process (those no worker can take). Returns each worker's stats."""
    remote: list[tuple[int, Run, bytes | None]] = []
    here: list[tuple[int, Run, bytes | None]] = []
    for index, run in enumerate(runs):
        movable, payload = ticket_payload(run)
        (remote if movable else here).append((index, run, payload))
    ctx = context()
    workers = [_Worker(ctx) for _ in range(min(jobs, len(remote)))]
    retired: list[WorkerStats] = []
    try:
        for index, run, _ in here:  # while the workers start
            done(index, local(run))
        pending = list(reversed(remote))
        while any(w.index is not None for w in workers) or pending:
            for w in workers:
                if w.ready and w.index is None and pending:
                    index, run, payload = pending.pop()
                    w.send(index, run, steps, seed, payload)
            ready = wait([w.connection for w in workers] + [w.process.sentinel for w in workers])
            for w in list(workers):
                if w.connection in ready or w.connection.poll():
                    try:
                        message = w.connection.recv()
                    except (EOFError, OSError):
                        message = None
                    if message is not None and message[0] == "ready":
                        w.ready, w.stats.boot = True, message[2]
                        continue
                    if message is not None:
                        w.index = None
                        w.stats.add(message[2])
                        w.stats.cpu += message[3]
                        done(message[1], message[2])
                        continue
                if w.process.sentinel in ready or not w.process.is_alive():
                    w.process.join()
                    if not w.ready:
                        raise RuntimeError(f"a worker process (pid {w.stats.pid}) {death_cause(w.process)} before "
                                           "it was ready")
                    if w.index is not None:
                        run = runs[w.index]
                        done(w.index, CaseResult(run.name, run.dtype, run.device, 0, kind=run.kind,
                                                 error=f"the worker process (pid {w.stats.pid}) checking it "
                                                       f"{death_cause(w.process)}"))
                    w.stats.runs += w.index is not None
                    w.index = None
                    w.stop()
                    retired.append(w.stats)
                    workers.remove(w)
                    if pending:
                        workers.append(_Worker(ctx))
        for w in workers:
            w.connection.send(None)
            w.process.join(5)
    finally:
        for w in workers:
            w.stop()
    return retired + [w.stats for w in workers]
