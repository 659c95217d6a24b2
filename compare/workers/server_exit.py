"""The forkserver's exit: at once, without the interpreter's teardown, and, for a server a command line started,
with that command. Imported by the forkserver alone, the first module every command preloads there
(compare/workers/server.py's PRELOADS, compare/distributed/launcher.py's RANK_PRELOAD), never by a process that does
work.

The server imports modules and forks processes from them: it holds no file to flush and no state to save. When the
command that started it ends, it exits, and Python then tore down all it had imported (torch, torch._dynamo, the
catalogues): 0.7-0.9 s of CPU after the command had returned, on a core that the next command or test wanted.
Registered first, this handler runs last: the other modules' atexit handlers still run, the teardown does not. The
processes it forks leave through multiprocessing's own os._exit and never run atexit handlers.

But the server notices that end only between forks: while it still imports (about 2 s), it does not. A command line
refused after the server started (`python -m compare --only typo`) returned in 0.2 s, and its server went on
importing torch for 2 s, holding the command's stdout and stderr open: `python -m compare --only typo 2>&1 | cat`
took 2.1 s. So a server started by a command line's main thread (`PARENT_VARIABLE` holds that process's id;
compare/workers/server.py's `start_early`) asks Linux to kill it when that process ends (PR_SET_PDEATHSIG): at once,
wherever it is. Nothing of the server's is lost, as above.

Each process the server forks (the check's workers, a figure's process, a DDP rank) asks the same of the server:
a command killed by a signal it cannot catch or does not (SIGKILL; SIGTERM from `timeout`, CI or `kill`; SIGHUP when
its terminal closes) took its server with it, but the workers, orphaned, ran on: a check with --steps 10**8 left two
processes at 100% of a core each, for as long as nobody killed them. Now its end ends the server, whose end ends
them. A command that ends normally has ended its processes before its server.

Ctrl-C at a terminal signals the whole foreground process group, the server too. Once its imports are done the
server ignores it (multiprocessing's forkserver loop does), but while it still imported, Python's own handler
raised KeyboardInterrupt there and printed the server's traceback beside the command's report of the
interruption. So here the server leaves at once and quietly on Ctrl-C (its command reports it); a process forked
from it, which inherits the handler, raises KeyboardInterrupt as Python's own handler does.
"""
import atexit
import ctypes
import os
import signal
import sys

from compare.workers.server import PARENT_VARIABLE

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

atexit.register(os._exit, 0)
SERVER = os.getpid()


def interrupted(signum, frame) -> None:
    """SIGINT: the server (still importing: afterwards it ignores SIGINT) ends quietly; a process forked from it
    raises KeyboardInterrupt."""
    if os.getpid() == SERVER:
        os._exit(128 + signum)
    signal.default_int_handler(signum, frame)


signal.signal(signal.SIGINT, interrupted)


def end_with(parent: int) -> None:
    """Be killed when process `parent` ends; exit now if it has already ended (it is then no longer our parent).
    Where the C library offers no prctl, nothing: the server then ends when it next looks, as before."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0 and os.getppid() != parent:
        os._exit(0)


_forking = SERVER  # the process that is forking (os.fork's hooks below): the server, or one of its processes


def _before_fork() -> None:
    global _forking
    _forking = os.getpid()


def _after_fork_in_child() -> None:
    """A process the server forked ends with the server (not one a worker forks in turn: it has its own parent)."""
    if _forking == SERVER:
        end_with(SERVER)


_parent = os.environ.pop(PARENT_VARIABLE, "")  # not passed on to the processes forked from here
if sys.platform.startswith("linux"):
    if _parent.isdigit():
        end_with(int(_parent))
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
