"""One worker process as the pool (compare/workers/pool.py) sees it: its pipe, the tickets it holds, its share of
the run; and the thread that starts the workers while the caller goes on.

A worker checks its tickets one at a time, in the order they were sent; the pool keeps up to `PREFETCH` with each,
so a worker that finishes one starts the next at once instead of waiting for the caller to answer (which, on a
machine whose cores the workers fill, waits for a core). Its first held ticket is the run it is checking.

Starting a worker blocks until the forkserver has imported what it preloads (torch and the catalogues, about two
seconds after `python -m compare` starts it): `Launcher` starts them on a thread, so the caller can check runs in
the meantime.
"""
from __future__ import annotations

import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from compare.checks.selection import Run
from compare.engine.step_loop import TIMED, CaseResult
from compare.workers.server import serve, single_threaded_environment

PREFETCH = 2  # tickets held by a worker at once: the one it checks and the next


@dataclass
class WorkerStats:
    """One process's share of the run (`python -m compare --profile`): its process id, its start-up in seconds (from
    the pool's asking for it to its ready message: while the forkserver still imports, that wait included), and the
    summed timing parts of the runs it checked; `here`: the caller's own process, which checks runs while the
    workers start."""

    pid: int = 0
    boot: float = 0.0
    runs: int = 0
    cpu: float = 0.0  # CPU seconds of its runs (below their wall time when other processes share the cores)
    seconds: dict = field(default_factory=lambda: dict.fromkeys(TIMED + ("total",), 0.0))
    here: bool = False

    def add(self, result: CaseResult) -> None:
        self.runs += 1
        for part, value in result.timing.items():
            self.seconds[part] = self.seconds.get(part, 0.0) + value


@dataclass(frozen=True)
class Ticket:
    """A run to check, at `index` in the report; `payload` as compare/workers/worker.py reads it."""

    index: int
    run: Run
    payload: bytes | None


def end(process, grace: float = 2) -> None:
    """Terminate a started process (SIGTERM), kill it if it is still there `grace` seconds later, and reap it."""
    if process.is_alive():
        process.terminate()
    process.join(grace)
    if process.is_alive():
        process.kill()
        process.join()


def death_cause(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


class Worker:
    """A worker process, not started until `start`; `held`: the tickets sent and not yet answered, in order."""

    def __init__(self, ctx):
        self.connection, self._child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(self._child, time.time()), daemon=True)
        self.stats = WorkerStats()
        self.started = False  # set by the thread that starts it, once the process exists
        self.ready = False  # it has said so over its pipe
        self.held: deque[Ticket] = deque()

    def start(self) -> None:
        with single_threaded_environment():
            self.process.start()
        self._child.close()
        self.stats.pid = self.process.pid or 0
        self.started = True

    def send(self, ticket: Ticket, steps, seed) -> None:
        self.held.append(ticket)
        run = ticket.run
        self.connection.send((ticket.index, run.kind, run.name, run.dtype, run.device, steps, seed, ticket.payload))

    def stop(self) -> None:
        if self.started:
            end(self.process)
        else:
            self._child.close()
        self.connection.close()


class Launcher:
    """Starts `workers` one after the other on a thread of this process; `check` re-raises what a start raised."""

    def __init__(self, workers: list[Worker]):
        self.error: BaseException | None = None
        self.cancelled = False  # `cancel`: start no further worker
        self.thread = threading.Thread(target=self._start, args=(list(workers),), name="compare-workers-start",
                                       daemon=True)
        self.thread.start()

    def _start(self, workers: list[Worker]) -> None:
        try:
            for worker in workers:
                if self.cancelled:
                    break
                worker.start()
        except BaseException as error:  # reported to the caller's thread by `check`
            self.error = error

    @property
    def busy(self) -> bool:
        return self.thread.is_alive()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        """Start no worker after the one being started now, if any (the runs are all done)."""
        self.cancelled = True

    def join(self) -> None:
        """Wait until every start has returned (so that `Worker.stop` finds each process it must end)."""
        self.thread.join()
