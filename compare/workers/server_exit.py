"""The forkserver's exit: at once, without the interpreter's teardown. Imported by the forkserver alone, the first
module every command preloads there (compare/workers/server.py's PRELOADS, compare/distributed/launcher.py's
RANK_PRELOAD), never by a process that does work.

The server imports modules and forks processes from them: it holds no file to flush and no state to save. When the
command that started it ends, it exits, and Python then tore down all it had imported (torch, torch._dynamo, the
catalogues): 0.7-0.9 s of CPU after the command had returned, on a core that the next command or test wanted.
Registered first, this handler runs last: the other modules' atexit handlers still run, the teardown does not. The
processes it forks leave through multiprocessing's own os._exit and never run atexit handlers.
"""
import atexit
import os

atexit.register(os._exit, 0)
