"""Case runs in worker processes (`python -m compare -j N`): each worker checks one run at a time and sends back
its CaseResult; the caller places it by index, so the report's rows and their order do not depend on N.

- Start method: 'forkserver' where the platform has it (a clean server process imports torch and the catalogues
  once, then forks each worker from it: no parent threads or torch state are forked), else 'spawn'
  (compare/workers/server.py). Each worker runs one torch thread and one BLAS thread (compare/workers/worker.py).
- The workers are started on a thread (compare/workers/process.py): until the first one is ready, this process
  checks built-in module runs itself (short, and they need no optimizer, whose one-time import of torch._dynamo
  the workers have from the forkserver), on the core the forkserver's imports leave free. Then each worker
  holds up to two tickets, handed out longest training runs first (compare/checks/main_job.py's dispatch_order).
- A case that user code registered in this process (compare.registry) travels pickled with the classes it names;
  one that cannot be pickled (a lambda among its inputs) runs here, in this process.
- A worker that dies (killed, os._exit, a crash in native code) becomes a FAIL result naming the case it was
  checking and the cause; a fresh worker takes its place and its other tickets, and the other runs go on. Never a
  hang: the wait covers every worker's pipe and its process sentinel.
- Ctrl-C (KeyboardInterrupt in the caller): every worker is terminated (then killed) and joined before it
  propagates, so no process is left behind; the caller reports the runs that finished.
"""
from __future__ import annotations

import os
import pickle
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait

import torch

from compare import registry
from compare.checks.main_job import dispatch_order
from compare.checks.selection import Run
from compare.engine.step_loop import CaseResult
from compare.workers.process import PREFETCH, Launcher, Ticket, Worker, WorkerStats, death_cause
from compare.workers.server import context

Done = Callable[[int, CaseResult], None]
POLL = 0.005  # seconds between looks at the workers while some have not started yet (their pipes join the wait then)


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


class _Here:
    """This process's share of the runs: those no worker can take, and built-in module runs while no worker is
    ready; timed into its WorkerStats."""

    def __init__(self, local: Callable[[Run], CaseResult], done: Done):
        self.local, self.done = local, done
        self.stats = WorkerStats(pid=os.getpid(), here=True)

    def check(self, ticket: Ticket) -> None:
        cpu = time.process_time()
        result = self.local(ticket.run)
        self.stats.cpu += time.process_time() - cpu
        self.stats.add(result)
        self.done(ticket.index, result)

    def take(self, pending: deque[Ticket]) -> Ticket | None:
        """The first pending built-in module run, when torch runs one thread here as in a worker (the same
        results): short, and it uses no optimizer, so torch._dynamo is not imported here."""
        if torch.get_num_threads() != 1:
            return None
        ticket = next((t for t in pending if t.run.kind == "module" and t.payload is None), None)
        if ticket is not None:
            pending.remove(ticket)
        return ticket


def run_all(runs: list[Run], jobs: int, steps, seed, done: Done,
            local: Callable[[Run], CaseResult]) -> list[WorkerStats]:
    """Check every run on `jobs` worker processes; `done(index, result)` as each finishes (in any order).
    `local(run)` checks a run in this process (those no worker can take, and some while the workers start).
    Returns each started process's stats (this one's last, when it checked any run)."""
    here = _Here(local, done)
    pending: deque[Ticket] = deque()
    only_here: list[Ticket] = []
    for index in dispatch_order(runs):  # the longest training runs first
        movable, payload = ticket_payload(runs[index])
        (pending.append if movable else only_here.append)(Ticket(index, runs[index], payload))
    ctx = context()
    workers = [Worker(ctx) for _ in range(min(jobs, len(pending)))]
    retired: list[WorkerStats] = []
    launcher = Launcher(workers)
    try:
        for unmovable in only_here:  # while the workers start
            here.check(unmovable)
        while pending or any(w.held for w in workers):
            launcher.check()
            for depth in range(1, PREFETCH + 1):  # an idle worker gets its first ticket before any its second,
                for w in workers:  # and the last few go one at a time, to whichever worker is free first
                    if w.ready and len(w.held) < depth and len(pending) > (depth - 1) * len(workers):
                        w.send(pending.popleft(), steps, seed)
            ticket = None if any(w.ready for w in workers) else here.take(pending)
            if ticket is not None:
                here.check(ticket)
            started = [w for w in workers if w.started]
            if not started and not launcher.busy:
                raise RuntimeError("no worker process started")
            ready = wait([w.connection for w in started] + [w.process.sentinel for w in started],
                         0 if ticket is not None else POLL if launcher.busy else None)
            for w in started:
                if w.connection in ready or w.connection.poll():
                    if _receive(w, done):
                        continue
                if w.process.sentinel in ready or not w.process.is_alive():
                    retired.append(_bury(w, pending, done))
                    workers.remove(w)
                    if pending:
                        workers.append(Worker(ctx))
                        workers[-1].start()
        for w in workers:  # this process may have checked every run before a worker started (all module runs)
            if w.started:
                w.connection.send(None)
                w.process.join(5)
    finally:
        launcher.cancel()  # the runs are done (or an error, Ctrl-C): no worker is started only to be ended
        launcher.join()
        for w in workers:
            w.stop()
    return retired + [w.stats for w in workers if w.started] + ([here.stats] if here.stats.runs else [])


def _receive(w: Worker, done: Done) -> bool:
    """Take one message from `w`; False when its pipe has closed (it died)."""
    try:
        message = w.connection.recv()
    except (EOFError, OSError):
        return False
    if message[0] == "ready":
        w.ready, w.stats.boot = True, message[2]
        return True
    ticket = w.held.popleft()
    assert ticket.index == message[1], "a worker answers its tickets in the order it was sent them"
    w.stats.add(message[2])
    w.stats.cpu += message[3]
    done(message[1], message[2])
    return True


def _bury(w: Worker, pending: deque[Ticket], done: Done) -> WorkerStats:
    """A worker that died: a FAIL result for the run it was checking, its other tickets back to the front of
    `pending`. Raises when it died before it was ready (the workers cannot start)."""
    w.process.join()
    if not w.ready:
        raise RuntimeError(f"a worker process (pid {w.stats.pid}) {death_cause(w.process)} before it was ready")
    if w.held:
        ticket = w.held.popleft()
        run = ticket.run
        done(ticket.index, CaseResult(run.name, run.dtype, run.device, 0, kind=run.kind,
                                      error=f"the worker process (pid {w.stats.pid}) checking it "
                                            f"{death_cause(w.process)}"))
        w.stats.runs += 1
    pending.extendleft(reversed(w.held))
    w.held.clear()
    w.stop()
    return w.stats
