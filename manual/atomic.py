"""`atomic_write(path)`: a file is replaced whole or not at all; a failed write leaves the old one untouched.

The data goes to a temporary file in the target's own directory (the same file system, so the rename is
atomic), is flushed and fsynced, and only then `os.replace`s the target. If anything goes wrong before that (an
exception in the code writing, a full disk, Ctrl-C: any BaseException), the temporary file is removed and the
target keeps its old bytes, or stays absent. The new file keeps the old one's permission bits, or gets the
umask's default for a new file (`tempfile.mkstemp` alone would leave it 0600). A symlink at `path` is followed:
its target is replaced and the link stays.

Used by `manual.save` and by every file `python -m compare` writes (JSON and Markdown reports, figures).
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import IO


def _new_file_mode(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


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
    directory, name = os.path.split(target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, mode, **open_kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
