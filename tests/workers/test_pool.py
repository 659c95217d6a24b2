"""The check's worker processes (compare/workers/pool.py): the same report as in one process, a worker that dies is
a FAIL row naming the case and the cause, and Ctrl-C leaves no process behind."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import torch

import manual.nn as mnn
from compare import registry
from compare.__main__ import main
from compare.catalogue.case_types import Case, ModuleCase
from compare.checks import main_job, selection
from compare.workers import pool, server

SELECTION = ["--only", "relu", "--steps", "3"]  # training, module and extreme cases: 47 runs


def report(tmp_path, capsys, jobs: int):
    path = tmp_path / f"j{jobs}.json"
    status = main([*SELECTION, "-j", str(jobs), "--json", str(path)])
    rows = [line.split()[:-2] for line in capsys.readouterr().out.splitlines()]  # all but the ms/step columns
    data = json.loads(path.read_text())
    for case in data["cases"]:
        case.pop("timing")
    return status, rows, data


@pytest.mark.heavy  # 47 runs twice, the second on workers
def test_two_workers_give_the_rows_and_json_of_one_process(tmp_path, capsys):
    one, two = report(tmp_path, capsys, 1), report(tmp_path, capsys, 2)
    assert {case["kind"] for case in one[2]["cases"]} == {"training", "module", "extreme"}
    assert one == two


# -- a registered case whose manual module ends its own process: module-level, so a worker can unpickle it --
class ManualExit(mnn.Module):
    def __init__(self, how: str = "kill", dtype=None):
        super().__init__()
        self.how = how

    def forward(self, input):
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)

    def backward(self, grad_output):
        return grad_output


class TorchExit(torch.nn.Module):
    def __init__(self, how: str = "kill"):
        super().__init__()

    def forward(self, input):
        return input.clone()


def two_by_three(rng):
    return rng.standard_normal((2, 3))


def test_a_worker_that_dies_is_a_fail_row_naming_the_case_and_the_cause():
    kill = ModuleCase("user-kills-its-process", ("Exit", {"how": "kill"}), two_by_three)
    exit_ = ModuleCase("user-exits-its-process", ("Exit", {"how": "exit"}), two_by_three)
    relu = selection.find("module", "relu")
    runs = [selection.Run("module", case, "float64", "cpu") for case in (kill, relu, exit_, relu)]
    results = {}
    with registry.isolated():
        registry.register_module("Exit", ManualExit, TorchExit)
        registry.register_case(kill)
        registry.register_case(exit_)
        pool.run_all(runs, 2, None, 0, results.__setitem__, main_job.execute_safely)
    assert sorted(results) == [0, 1, 2, 3]
    assert not results[0].passed and "user-kills-its-process" == results[0].case
    assert "killed by SIGKILL" in results[0].error, results[0].error
    assert not results[2].passed and "exited with status 3" in results[2].error, results[2].error
    assert results[1].passed and results[3].passed  # the other runs go on, on a fresh worker


def test_a_registered_case_that_cannot_be_pickled_runs_in_this_process():
    case = ModuleCase("user-relu-lambda-input", ("ReLU", {}), lambda rng: rng.standard_normal((3, 4)))
    results = {}
    with registry.isolated():
        registry.register_case(case)
        assert pool.ticket_payload(selection.Run("module", case, "float64", "cpu")) == (False, None)
        pool.run_all([selection.Run("module", case, "float32", "cpu")], 2, None, 0, results.__setitem__,
                     main_job.execute_safely)
    assert results[0].passed and results[0].case == "user-relu-lambda-input"


def processes_with(marker: str) -> list[int]:
    """The processes whose environment holds `marker` (the command under test and every process it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:  # gone, or not ours
                continue
    return found


@pytest.mark.heavy  # an interpreter, its forkserver and workers
def test_ctrl_c_under_two_workers_reports_the_finished_rows_writes_no_json_and_leaves_no_process(tmp_path):
    """A real SIGINT to a real `python -m compare -j 2 --json PATH`: the finished rows, INTERRUPTED, exit 130, the
    previous report untouched and no temporary file, and no process left (tests/cli/test_cli.py interrupts the
    one-process run, -j 1, in-process)."""
    marker = f"COMPARE_TEST_MARKER={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    report = tmp_path / "out.json"
    report.write_text("the previous run's report\n")
    # SIGINT back to its default, so that Python installs its handler even when the test runner ignores it
    process = subprocess.Popen([sys.executable, "-m", "compare", "-j", "2", "--json", str(report)], cwd=tmp_path,
                               text=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first_row = process.stderr.readline()  # a case run has finished: the workers are up
    assert first_row.rstrip().endswith(("PASS", "FAIL")), first_row
    workers = [pid for pid in processes_with(marker) if pid != process.pid]
    assert len(workers) >= 2, workers  # the forkserver and the workers
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert first_row.split()[0] in out and "INTERRUPTED after" in out and "no JSON written" in out, out
    assert "Traceback" not in err, err
    assert report.read_text() == "the previous run's report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left either
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_with(marker), "processes left behind"


def test_usable_cores_is_the_affinity():
    assert server.usable_cores() == len(os.sched_getaffinity(0))


def test_the_forkserver_starts_early_for_a_check_that_uses_workers_for_ddp_and_for_plots(monkeypatch):
    """Preloading the worker's module for the check, the rank's for ddp, torch and matplotlib for plots (names
    only: nothing is imported); not for a command line that starts no process from it."""
    import multiprocessing.forkserver

    from compare.distributed.launcher import RANK_PRELOAD
    started, preloads = [], []
    monkeypatch.setattr(multiprocessing.forkserver, "ensure_running", lambda: started.append(preloads[-1]))
    monkeypatch.setattr(multiprocessing.forkserver, "set_forkserver_preload", preloads.append)
    worker, rank, plots = [server.EXIT, "compare.workers.worker"], RANK_PRELOAD, server.PRELOADS["plots"]
    assert all(preload[0] == server.EXIT for preload in (rank, plots))  # compare/workers/server_exit.py first
    expected = {(): worker, ("check",): worker, ("--only", "relu"): worker, ("-j", "2"): worker, ("--list",): None,
                ("-j", "1"): None, ("--jobs", "1"): None, ("-j1",): None, ("bench",): None, ("--help",): None,
                ("kernels",): None, ("ddp",): rank, ("ddp", "--world-size", "4"): rank, ("ddp", "--help"): None,
                ("plots", "--out", "f"): plots, ("plots", "--out", "f", "--only", "xor", "--only", "cv_folds"): plots,
                ("plots", "--out", "f", "--only", "xor"): None, ("plots", "--out", "f", "--only=xor"): None,
                ("plots", "--out", "f", "--only=xor", "--only", "cv_folds"): plots, ("plots", "--out", "f", "-j", "1"): None,
                ("plots", "--help"): None}
    for argv, preload in expected.items():
        started.clear()
        server.start_early(list(argv))
        assert started == ([preload] if preload else []), argv


def test_a_worker_that_dies_holding_a_second_ticket_leaves_it_to_a_fresh_worker():
    """Each worker holds up to two tickets; the one after the run it died on goes back to the queue."""
    kill = ModuleCase("user-kills-its-process", ("Exit", {"how": "kill"}), two_by_three)
    training = selection.find("training", "mlp6-7_relu-ce-sgd_nesterov_wd")  # a worker's: this process takes none
    runs = [selection.Run("module", kill, "float64", "cpu")] + [selection.Run("training", training, dtype, "cpu")
                                                               for dtype in ("float32", "float64") * 3]
    results = {}
    with registry.isolated():
        registry.register_module("Exit", ManualExit, TorchExit)
        registry.register_case(kill)
        pool.run_all(runs, 2, 2, 0, results.__setitem__, main_job.execute_safely)
    assert sorted(results) == list(range(len(runs)))
    assert "killed by SIGKILL" in results[0].error, results[0].error
    assert all(results[i].passed and results[i].steps == 2 for i in range(1, len(runs)))


def test_this_process_checks_built_in_module_runs_while_the_workers_start():
    """The same results as in one process, and --profile's stats name this process's share."""
    relu, training = selection.find("module", "relu"), selection.find("training", "mlp6-7_relu-ce-sgd_nesterov_wd")
    runs = [selection.Run("module", relu, "float32", "cpu"), selection.Run("training", training, "float64", "cpu"),
            selection.Run("module", relu, "float64", "cpu")]
    results = {}
    stats = pool.run_all(runs, 2, 2, 0, results.__setitem__, lambda run: main_job.execute_safely(run, 2))
    here = [s for s in stats if s.here]
    assert len(here) == 1 and here[0].pid == os.getpid() and here[0].runs >= 1  # the first look finds no worker ready
    assert sum(s.runs for s in stats) == len(runs)
    for index, run in enumerate(runs):
        alone = main_job.execute_safely(run, 2)
        assert (results[index].case, results[index].passed, results[index].table.errors()) == \
               (alone.case, alone.passed, alone.table.errors())


def test_module_runs_all_checked_here_before_a_worker_started_end_the_pool(monkeypatch):
    """`python -m compare --only relu --kind module` raised "can only join a started process": this process had
    checked every run while the workers were still starting. Now no further worker starts, and the one being
    started is ended (a slow start makes the order certain)."""
    start = pool.Worker.start

    def slow_start(worker):
        time.sleep(0.5)
        start(worker)
    monkeypatch.setattr(pool.Worker, "start", slow_start)
    relu = selection.find("module", "relu")
    runs = [selection.Run("module", relu, dtype, "cpu") for dtype in ("float32", "float64")]
    results = {}
    stats = pool.run_all(runs, 2, None, 0, results.__setitem__, main_job.execute_safely)
    assert sorted(results) == [0, 1] and all(result.passed for result in results.values())
    assert [s.runs for s in stats if s.here] == [2] and sum(not s.here for s in stats) <= 1
    assert not multiprocessing.active_children()  # the worker that started was ended and reaped


def test_the_workers_are_handed_the_longest_training_runs_first():
    """Longest first by main_job's estimate (so the check does not end on one long run), the rest in report order."""
    runs = selection.plan(None, None, ["cpu"])
    order = main_job.dispatch_order(runs)
    assert sorted(order) == list(range(len(runs)))
    cases = [runs[i] for i in order if isinstance(runs[i].case, Case)]
    assert order[len(cases):] == [i for i, run in enumerate(runs) if not isinstance(run.case, Case)]
    costs = [main_job.estimated_cost(run) for run in cases]
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]
    assert isinstance(cases[0].case.data, main_job.SEQUENCE_DATA) and cases[0].dtype == "float32"


def test_the_estimate_counts_the_input_batch_size():
    """A step over 64x64x3 images is not costed as one over 6 features: 3 such steps outweigh 20 small ones."""
    from compare.catalogue.batches import Batches
    small = Batches("classification", in_features=6, targets=3)
    images = Batches("images", in_features=3 * 64 * 64, targets=10, batch_size=4, image_shape=(3, 64, 64))
    spec = (("MLP", {}), ("CrossEntropyLoss", {}), ("SGD", {"lr": 0.1}))
    cost = {data: main_job.estimated_cost(selection.Run("training", Case("c", *spec, data, steps=steps), "float64",
                                                       "cpu"))
            for data, steps in ((small, 20), (images, 3))}
    assert cost[images] > cost[small] > 20
