"""Independent tasks in processes of their own (compare/workers/tasks.py, `python -m compare plots -j N`): results in
the tasks' order whatever order they finish in, a process that dies gives its task's result from `died` naming
the cause, an interruption leaves no process behind, and `plots` writes the same data and prints the same lines
on processes as in one. (In tests/workers/, which one pytest-xdist worker takes whole: the forkserver that
tests/workers/test_pool.py starts serves these too.)"""
import importlib.util
import multiprocessing
import os
import time

import pytest

from compare.__main__ import main
from compare.workers import tasks
from compare.workers.tasks import run_tasks
from tests.workers.task_targets import act, died


def test_results_come_in_the_tasks_order_and_a_dead_process_names_its_cause():
    work = [("sleep", 0.3), ("kill", 0), ("sleep", 0.0), ("exit", 0), ("raise", 0), ("sleep", 0.1)]
    results = []
    run_tasks("plots", work, 2, act, died, lambda index, result: results.append((index, result)))
    assert [index for index, _ in results] == list(range(len(work)))  # in order, whichever ends first
    outcomes = [result[:3] if result[0] == "died" else result[:2] for _, result in results]
    assert outcomes == [("slept", 0.3), ("died", "kill", "killed by SIGKILL"), ("slept", 0.0),
                        ("died", "exit", "exited with status 3"), ("died", "raise", "exited with status 1"),
                        ("slept", 0.1)]
    pids = {result[2] for _, result in results if result[0] == "slept"}
    assert os.getpid() not in pids and len(pids) == 3  # each task in a process of its own
    assert not multiprocessing.active_children()


def test_an_interruption_ends_every_running_process():
    """Ctrl-C arrives here while the others still run (raised from `done`, as the signal would be)."""
    pids = []

    def done(index, result):
        pids.append(result[2])
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_tasks("plots", [("sleep", 0.0), ("sleep", 60), ("sleep", 60)], 3, act, died, done)
    assert time.monotonic() - start < 30
    assert len(pids) == 1 and not multiprocessing.active_children()


def without_timing(printed: str) -> dict[str, str]:
    """figure -> its printed line without the closing '; 1.2 s'."""
    return {line.split(".png")[0]: line.rsplit("; ", 1)[0] for line in printed.splitlines() if ".png " in line}


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_plots_writes_the_same_data_and_lines_on_a_process_per_figure_as_in_one(tmp_path, capsys, monkeypatch):
    """The two quickest figures (tests/jobs/test_plots.py checks all seven, drawn in its own process)."""
    printed, names, process_counts = {}, ["activations", "optimizer_paths"], []
    monkeypatch.setattr(tasks, "run_tasks", lambda *args: process_counts.append(args[2]) or run_tasks(*args))
    for jobs in ("1", "2"):
        assert main(["plots", "--out", str(tmp_path / jobs), "--quick", "-j", jobs, "--only", names[0],
                     "--only", names[1]]) == 0
        printed[jobs] = without_timing(capsys.readouterr().out)
    assert process_counts == [2]  # -j 2 drew on processes, -j 1 in this one
    assert printed["1"] == printed["2"] and sorted(printed["1"]) == sorted(names)
    for name in names:
        assert (tmp_path / "1" / f"{name}.json").read_bytes() == (tmp_path / "2" / f"{name}.json").read_bytes()
