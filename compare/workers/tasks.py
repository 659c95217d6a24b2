"""Independent tasks, each in a process of its own (`python -m compare plots -j N`): at most N at once, each
forked from the server (compare/workers/server.py), running `target(task)` and sending back its result. The
caller gets the results in the tasks' order, as each one's predecessors have arrived, so what it prints does not
depend on N.

- A process that ends before it sends its result (killed, os._exit, a crash in native code, an exception out of
  `target`, whose traceback goes to stderr) gives that task the result `died(task, cause)`, the cause worded as
  the check's workers word it (compare/workers/process.py); the other tasks go on. Never a hang: the wait covers
  every process's pipe and its sentinel.
- Ctrl-C (KeyboardInterrupt here): every process is terminated (then killed) and joined before it propagates.
"""
from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from compare.workers.process import death_cause, end
from compare.workers.server import context, single_threaded_environment


def _serve(target: Callable[[Any], Any], task: Any, sender) -> None:
    """The process's target: one task. Ctrl-C is the parent's to handle: it ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    result = target(task)
    try:
        sender.send(result)
    except BrokenPipeError:  # the parent no longer waits for it: interrupted while it started this process
        pass


def run_tasks(command: str, tasks: list, jobs: int, target: Callable[[Any], Any], died: Callable[[Any, str], Any],
              done: Callable[[int, Any], None]) -> None:
    """done(index, result) for every task, in the tasks' order. `target` and the tasks must be picklable (`target`
    at module level); the server preloads what `command` names in compare/workers/server.py's PRELOADS."""
    ctx = context(command)
    pending = deque(enumerate(tasks))
    running: dict = {}  # receiving end of a process's pipe -> (index, task, process)
    arrived: dict[int, Any] = {}
    reported = 0
    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, task = pending.popleft()
                receiver, sender = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_serve, args=(target, task, sender), daemon=True)
                running[receiver] = (index, task, process)  # before it starts: an interruption there must end it
                with single_threaded_environment():
                    process.start()
                sender.close()
            ready = set(wait([*running, *(process.sentinel for _, _, process in running.values())]))
            for receiver, (index, task, process) in list(running.items()):
                if receiver not in ready and process.sentinel not in ready:
                    continue
                try:
                    arrived[index] = receiver.recv()
                except EOFError:  # it ended without sending
                    process.join()
                    arrived[index] = died(task, death_cause(process))
                else:
                    process.join()
                receiver.close()
                del running[receiver]
            while reported in arrived:
                done(reported, arrived.pop(reported))
                reported += 1
    finally:
        for receiver, (_, _, process) in running.items():
            if process.pid is not None:  # else interrupted before it started
                end(process)
            receiver.close()
