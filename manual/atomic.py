"""`atomic_write(path)`: a file is replaced whole or not at all; a failed write leaves the old one untouched.

The data goes to a temporary file in the target's own directory (the same file system, so the rename is
atomic), is flushed and fsynced, and only then `os.replace`s the target. If anything goes wrong before that (an
exception in the code writing, a full disk, Ctrl-C: any BaseException), the temporary file is removed and the
target keeps its old bytes, or stays absent. The new file keeps the old one's permission bits, or gets the
umask's default for a new file (a bare temporary file would be 0600). A symlink at `path` is followed: its
target is replaced and the link stays. A missing directory is refused naming `path`.

Leftovers. A writer killed outright (SIGKILL, or SIGTERM with Python's default handler, a power cut) runs no
cleanup, so its temporary file stays: `.NAME.HOST.PID.XXXXXXXX.tmp` next to the target NAME (HOST: this
machine's name, PID: the writer's process id, X: random hex). `leftovers(path)` lists them; every
`atomic_write(path)` first removes those of `path` that are abandoned (`remove_leftovers`), which is when

    no process holds the file's lock   AND   (it was written on this host by a process that no longer exists
                                              OR it has not been modified for LEFTOVER_STALE_S seconds).

Why this never removes the file of a live writer (a concurrent save of the same path): a writer takes an
exclusive `flock` on its temporary file right after creating it and holds it until its file has replaced the
target (the rename happens before the close) or has been deleted; a kill releases it. (1) Where locks work
between the two processes (one host; a network file system that shares locks), a live writer's file is locked
and is skipped. (2) In the instant between the writer's create and its lock, the writer is alive: on this host
its pid exists, so the file is kept; a writer on another host is judged by age alone, and its file is fresh.
(3) Threads of one process share a pid, so they never remove each other's files, even where locks are per
process. (4) Where the file system has no locks at all, nothing is removed. (5) A dead writer's pid taken by
a new process keeps its leftover until it is stale: a file lingers, nothing breaks. And if a live writer's file
were ever removed, its final rename would fail and raise: the old target stays, never a torn file. Two writers
to one path each rename a complete file; the last rename wins.
Without `fcntl` (Windows), leftovers are listed but never removed.

Used by `manual.save` and by every file `python -m compare` writes (JSON and Markdown reports, figures).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LEFTOVER_STALE_S = 3600.0  # an unlocked temporary file unmodified this long is abandoned, whoever wrote it
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:24] or "host"
NAME_BYTES = 120  # of the target's name kept in a temporary file's name (file names are at most 255 bytes)


def _stem(name: str) -> str:
    return name.encode()[:NAME_BYTES].decode(errors="ignore")


def _leftover_pattern(name: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(_stem(name))}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{{8}}\.tmp")


def _scan(target: str) -> list[tuple[str, str, int]]:
    directory, name = os.path.split(target)
    pattern = _leftover_pattern(name)
    with os.scandir(directory) as entries:
        prefix = f".{_stem(name)}."
        found = [(entry.path, match["host"], int(match["pid"])) for entry in entries
                 if entry.name.startswith(prefix) and (match := pattern.fullmatch(entry.name))]
    return sorted(found)


def leftovers(path: str | os.PathLike) -> list[str]:
    """The temporary files of writes of `path` (links followed) that exist now: killed writers' and live ones'."""
    return [leftover for leftover, _, _ in _scan(os.path.realpath(os.fspath(path)))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, another user's
        return True
    return True


def _remove_if_abandoned(leftover: str, host: str, pid: int) -> bool:
    """Remove `leftover` if no writer can still be using it (see the module docstring); True if removed."""
    try:
        # for writing: NFS's lock emulation needs it for LOCK_EX; a link or a FIFO named like one is left alone
        descriptor = os.open(leftover, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a writer holds it, or this file system has no locks
            return False
        opened = os.fstat(descriptor)
        if not stat.S_ISREG(opened.st_mode):
            return False
        dead_here = host == HOST and pid != os.getpid() and not _alive(pid)
        if not dead_here and time.time() - opened.st_mtime < LEFTOVER_STALE_S:
            return False
        current = os.stat(leftover)
        if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):  # renamed away meanwhile
            return False
        os.unlink(leftover)
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the abandoned temporary files of writes of `path`; returns their paths. Best effort: never raises
    for a file it cannot open, lock or remove (it stays)."""
    if fcntl is None:
        return []
    try:
        found = _scan(os.path.realpath(os.fspath(path)))
    except OSError:  # a missing or unreadable directory: nothing to clean, the write reports it
        return []
    return [leftover for leftover, host, pid in found if _remove_if_abandoned(leftover, host, pid)]


def _new_file_mode(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _create_temporary(path: str | os.PathLike, target: str) -> tuple[int, str]:
    """A new temporary file next to `target`, locked; `path` (as given) names the target in errors."""
    directory, name = os.path.split(target)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = os.path.join(directory, f".{_stem(name)}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(temporary, flags, 0o600)
            break
        except FileExistsError:
            continue
        except OSError as error:
            reason = "no such directory" if error.errno == errno.ENOENT else error.strerror
            raise type(error)(error.errno, f"cannot write {os.fspath(path)!r}: {reason}", directory) from None
    if fcntl is not None:
        with contextlib.suppress(OSError):  # no locks on this file system: it is protected by pid and age
            fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor, temporary


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """`with atomic_write(path, "w") as f: ...` writes `f` to `path` when the block ends without an exception.

    mode: "wb" (default) or "w"; open_kwargs go to `open` (e.g. encoding="utf-8").
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    target = os.path.realpath(os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(f"atomic_write: {os.fspath(path)!r} is a directory")
    remove_leftovers(target)
    descriptor, temporary = _create_temporary(path, target)
    rename_while_open = os.name == "posix"  # the lock is held until the new file is in place; Windows can't
    try:
        try:
            file = os.fdopen(descriptor, mode, **open_kwargs)
        except BaseException:
            os.close(descriptor)
            raise
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
            os.chmod(temporary, _new_file_mode(target))
            if rename_while_open:
                os.replace(temporary, target)
        if not rename_while_open:
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
