"""A save killed outright (SIGKILL, SIGTERM) leaves its temporary file next to the target, named after the target
and the writer's pid; the next save of that path removes it. A concurrent writer's file is never removed: two
writers to one path leave one complete checkpoint. Real processes, paused mid-write by a hook in the child."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import manual
from manual.atomic import HOST, LEFTOVER_STALE_S, atomic_write, leftovers, remove_leftovers
from manual.persistence import load_state_dict, save_state_dict

fcntl = pytest.importorskip("fcntl")  # without locks (Windows), leftovers are listed, never removed

REPOSITORY = str(Path(manual.__file__).resolve().parents[1])

# Saves {"first": arange(10_000) * VALUE, "second": [VALUE] * 3} to PATH; after the first array is written (80 KB,
# mostly past the file's buffer), says "mid-write" and waits for its stdin to close, unless PAUSE is "0".
CHILD = """
import sys
import numpy as np
import manual.persistence
path, value, pause, repeats = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
write_array, paused = np.lib.format.write_array, []
def write_then_wait(file, array, **kwargs):
    write_array(file, array, **kwargs)
    if pause and not paused:
        paused.append(True)
        print("mid-write", flush=True)
        sys.stdin.read()
np.lib.format.write_array = write_then_wait
for _ in range(repeats):
    manual.persistence.save_state_dict({"first": np.arange(10_000.0) * value, "second": np.full(3, value)}, path)
"""


def arrays(value: float) -> dict:
    return {"first": np.arange(10_000.0) * value, "second": np.full(3, value)}


def start_save(path, value: float, pause: bool = True, repeats: int = 1) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([REPOSITORY, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(value), str(int(pause)), str(repeats)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=environment)
    if pause:
        line = child.stdout.readline()
        assert line == "mid-write\n", f"the child did not reach its pause: {child.communicate()[1]}"
    return child


def assert_holds(path, value: float):
    loaded = load_state_dict(path)
    assert list(loaded) == ["first", "second"]
    for key, expected in arrays(value).items():
        np.testing.assert_array_equal(loaded[key], expected, err_msg=key)


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_saves_leftover_is_findable_and_removed_by_the_next_save(tmp_path, kill):
    path = tmp_path / "model.npz"
    save_state_dict(arrays(1.0), path)
    child = start_save(path, 2.0)
    [leftover] = leftovers(path)
    assert Path(leftover).name.startswith(f".model.npz.{HOST}.{child.pid}.") and leftover.endswith(".tmp")
    assert os.path.getsize(leftover) > 0  # killed mid-write, not before it began
    child.send_signal(kill)
    assert child.wait() == -kill
    assert leftovers(path) == [leftover]  # a killed writer runs no cleanup ...
    assert_holds(path, 1.0)  # ... and the old checkpoint is intact
    save_state_dict(arrays(3.0), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # ... the next save removed the leftover
    assert_holds(path, 3.0)


def test_a_live_writers_file_is_kept_even_when_it_looks_stale(tmp_path):
    """The lock alone protects it: its mtime is set back past LEFTOVER_STALE_S while the writer is paused."""
    path = tmp_path / "model.npz"
    save_state_dict(arrays(1.0), path)
    child = start_save(path, 2.0)
    [leftover] = leftovers(path)
    old = time.time() - 2 * LEFTOVER_STALE_S
    os.utime(leftover, (old, old))
    save_state_dict(arrays(3.0), path)  # a second writer to the same path, while the first is mid-write
    assert leftovers(path) == [leftover]
    assert_holds(path, 3.0)
    child.stdin.close()  # the first writer goes on, and its rename comes last
    assert child.wait() == 0, child.stderr.read()
    assert_holds(path, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_two_concurrent_writers_leave_one_complete_checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    writers = [start_save(path, value, pause=False, repeats=15) for value in (1.0, 2.0)]
    for writer in writers:
        assert writer.wait() == 0, writer.stderr.read()
    value = load_state_dict(path)["second"][0]
    assert value in (1.0, 2.0)
    assert_holds(path, value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# (host, pid, age in seconds, held by a lock) of a temporary file of "model.npz" -> removed by the next write?
RULE = {
    "this host, dead writer": ("here", "dead", 0, False, True),
    "this host, live writer": ("here", "live", 0, False, False),
    "this host, live pid, stale (pid reused)": ("here", "live", 2, False, True),
    "this process (another thread)": ("here", "self", 0, False, False),
    "another host, fresh": ("elsewhere", "dead", 0, False, False),
    "another host, stale": ("elsewhere", "dead", 2, False, True),
    "locked, dead and stale": ("here", "dead", 2, True, False),
}


@pytest.mark.parametrize("case", RULE)
def test_which_leftovers_are_removed(tmp_path, case):
    host, pid, age, locked, removed = RULE[case]
    pids = {"dead": dead_pid(), "live": os.getppid(), "self": os.getpid()}
    path = tmp_path / "model.npz"
    leftover = tmp_path / f".model.npz.{HOST if host == 'here' else 'other-host'}.{pids[pid]}.0123abcd.tmp"
    leftover.write_bytes(b"PK partial")
    others = [tmp_path / f".model.npz.{HOST}.{pids['dead']}.0123abcd.bak",  # not our pattern: never touched
              tmp_path / f".other.npz.{HOST}.{pids['dead']}.0123abcd.tmp"]  # another target's
    for other in others:
        other.write_bytes(b"")
    when = time.time() - age * LEFTOVER_STALE_S
    os.utime(leftover, (when, when))
    assert leftovers(path) == [str(leftover)]
    with open(leftover, "rb+") as holder:
        if locked:
            fcntl.flock(holder, fcntl.LOCK_EX)
        assert remove_leftovers(path) == ([str(leftover)] if removed else [])
    assert leftover.exists() is not removed
    assert all(other.exists() for other in others)


def test_a_link_or_fifo_named_like_a_leftover_is_left_alone(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    link = tmp_path / f".model.npz.{HOST}.{dead_pid()}.0123abcd.tmp"
    link.symlink_to(precious)
    fifo = tmp_path / f".model.npz.{HOST}.{dead_pid()}.4567abcd.tmp"
    os.mkfifo(fifo)
    save_state_dict(arrays(1.0), tmp_path / "model.npz")
    assert link.is_symlink() and fifo.exists() and precious.read_text() == "keep"


def test_a_save_into_a_missing_directory_names_the_target(tmp_path):
    path = tmp_path / "missing" / "model.npz"
    with pytest.raises(FileNotFoundError, match=rf"cannot write '{path}': no such directory"):
        save_state_dict(arrays(1.0), path)
    with pytest.raises(FileNotFoundError, match=rf"cannot write '{path}'"):
        with atomic_write(path, "w") as f:
            f.write("never")
