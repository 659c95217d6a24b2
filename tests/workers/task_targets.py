"""The targets of tests/workers/test_tasks.py's tasks, in a module that imports nothing heavy: each task's process
imports the module that defines its target to unpickle it, and the test module would bring pytest and the command
with it (0.2 s of CPU in each of the tests' nine processes)."""
import os
import signal
import time


def act(task):
    """('sleep', seconds): sleeps, returns ('slept', seconds, pid); 'kill', 'exit' and 'raise' end the process."""
    how, seconds = task
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit":
        os._exit(3)
    elif how == "raise":
        raise RuntimeError("the task raised")
    time.sleep(seconds)
    return ("slept", seconds, os.getpid())


def died(task, cause):
    return ("died", task[0], cause)
