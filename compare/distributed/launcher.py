"""The DDP launcher: the rank processes of one run, joined through a TCPStore this process serves on 127.0.0.1
only, each running compare/distributed/rank.py; their comparisons, gathered. compare/cli/ddp.py is the command
around it.

The ranks start from multiprocessing's forkserver where the platform has one (else spawn): a clean server process
imports rank.py and torch._dynamo once (torch, torch.distributed, compare's engine: about 2 s of CPU) and forks each
rank from it, where spawn would import them again in every rank. The server lives as long as this process, so a
second run here (a test module's) starts its ranks at once."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import pickle
import socket
import tempfile

import torch.distributed as dist
import torch.multiprocessing as mp

from compare.distributed.rank import Comparison, rank_main
from compare.distributed.settings import LOOPBACK, Settings

# what the forkserver imports for the ranks: its quick exit (compare/workers/server_exit.py, named: this room does
# not import workers), then torch._dynamo (torch's one-time lazy import at a process's first optimizer) here rather
# than in rank.py, which every command line imports while it is parsed
RANK_PRELOAD = ["compare.workers.server_exit", "torch._dynamo", rank_main.__module__]


class RankFailed(RuntimeError):
    """A rank raised or died; the message holds its error (with the rank's traceback when it raised)."""


def listening_socket(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` (0: a free port); OSError says why it could not."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free; a listener is not
        sock.bind((LOOPBACK, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def start_method() -> str:
    """'forkserver' (preloading rank.py, unless this process's server already runs) where the platform has it,
    else 'spawn' (module docstring)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.get_context("forkserver").set_forkserver_preload(RANK_PRELOAD)
    return "forkserver"


def first_failure(result_dir: str) -> str | None:
    """'rank r failed: <traceback>' for the earliest failure the ranks recorded (rank.record_failure); None when
    none did. A rank records before it leaves the group, so the first record is the cause, and the peers that
    failed because it left (a closed connection in a collective) come after it."""
    records = []
    for name in os.listdir(result_dir):
        number = name.removeprefix("rank").removesuffix(".failed")
        if name.endswith(".failed") and number.isdigit():
            with open(os.path.join(result_dir, name)) as f:
                moment, _, trace = f.read().partition("\n")
            if moment.isdigit():  # else cut short by the rank's end
                records.append((int(moment), int(number), trace))
    if not records:
        return None
    _, rank, trace = min(records)
    return f"rank {rank} failed: {trace.strip()}"


def launch(settings: Settings, result_dir: str) -> None:
    """Start the ranks and wait for all of them. If one raises or dies, the others are ended (torch sends
    SIGTERM) and RankFailed names the rank that failed first, with its error: one that died without a traceback
    (a signal) as torch saw it, else the first one that raised (`first_failure`), whichever rank torch saw end
    first. In every case no rank process outlives this call, and nor does the file in the temporary folder where
    torch has a rank that raises write its traceback (torch reads it and leaves it)."""
    context = mp.start_processes(rank_main, args=(settings, result_dir), nprocs=settings.world_size, join=False,
                                 start_method=start_method())
    try:
        while not context.join():
            pass
    except mp.ProcessRaisedException as error:
        seen = f"rank {error.error_index} failed: {str(error).strip()}"
        raise RankFailed(first_failure(result_dir) or seen) from None
    except mp.ProcessExitedException as error:
        raise RankFailed(f"rank {error.error_index} failed: {str(error).strip()}") from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        for error_file in context.error_files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(error_file)


def run(settings: Settings) -> list[Comparison]:
    """Serve the rendezvous store on 127.0.0.1:settings.port (0: a free port), run the ranks, and return every
    rank's comparisons. OSError: the port cannot be bound (in use); RankFailed: a rank raised or died, or the store
    did not come up within the timeout (its own client connects to it)."""
    sock = listening_socket(settings.port)
    port = sock.getsockname()[1]
    try:  # the store takes over the listening socket, so no other process can take the port in between
        store = dist.TCPStore(LOOPBACK, port, settings.world_size, is_master=True,
                              timeout=datetime.timedelta(seconds=settings.timeout_s), wait_for_workers=False,
                              master_listen_fd=sock.detach())
    except dist.DistError as error:
        raise RankFailed(f"the store on {LOOPBACK}:{port} did not answer within --timeout {settings.timeout_s:g} s, "
                         f"before any rank started ({type(error).__name__}: {str(error).splitlines()[0]})") from None
    settings = dataclasses.replace(settings, port=store.port)
    try:
        with tempfile.TemporaryDirectory(prefix="compare-ddp-") as result_dir:
            launch(settings, result_dir)
            comparisons = []
            for rank in range(settings.world_size):
                with open(os.path.join(result_dir, f"rank{rank}.pkl"), "rb") as f:
                    comparisons += pickle.load(f)
    finally:
        del store  # closes the port
    return comparisons


