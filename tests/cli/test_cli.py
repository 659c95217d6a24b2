"""`python -m compare` never reports success for nothing: a command line that cannot mean a real run is refused
in one line with exit status 2 before any work; Ctrl-C reports what finished and writes no JSON; a reader that
closes the pipe ends it quietly. In-process (`main(argv)`) except where a real process is needed."""
import importlib.metadata
import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

import compare
import manual
import torch_ref
from compare.__main__ import SUBCOMMANDS, main
from compare.bench import machine, timing
from compare.checks import main_job
from compare.cli import plots
from compare.distributed import launcher
from compare.realdata import cv, training
from compare.workers import pool, server, tasks

ROOT = Path(__file__).resolve().parents[2]

# (command line, a phrase of the one-line message); "{tmp}" is a fresh directory, "{file}" a file in it
REFUSED = [
    # kernels: names the catalogue lacks, and --cases beside --pytest, before any child process starts
    (["kernels", "--cases", "no-such-case"], "--cases: no case named 'no-such-case'"),
    (["kernels", "--settings", "avx9"], "invalid choice: 'avx9'"),
    (["kernels", "--cases", "linreg-mse-sgd", "--pytest", "-q"], "with --pytest, select tests"),
    # the top level
    (["chek"], "invalid choice: 'chek'"),
    (["chek"], "did you mean check?"),
    (["bnech", "--sizes", "tiny"], "did you mean bench?"),
    (["cv", "--flods", "3"], "did you mean --folds?"),
    (["--seed", "1", "cv"], "the subcommand comes first: python -m compare cv"),
    # check (the default)
    (["--only", "no-such-case"], "matches no case"),
    (["--only", ""], "--only: expected a part of a case name, got an empty string"),  # every name contains it
    (["--only", "softmaxreg-ce-adamw-cosinus"], "close: optim-softmaxreg-ce-adamw-cosine"),
    (["--list", "--only", "no-such-case"], "matches no case"),
    (["--kind", "module", "--only", "linreg-mse"], "matches no case of the"),  # a training case, not a module one
    (["--kind", "modules"], "invalid choice: 'modules'"),
    (["-j", "-1"], "expected an integer in [0,"),
    (["--steps", "0"], "--steps: expected an integer of at least 1, got '0'"),
    (["--kind", "module", "--steps", "5"], "--steps 5: only training cases"),  # it changed nothing
    (["--steps", "-2"], "--steps: expected an integer of at least 1"),
    (["--steps", "two"], "--steps: expected an integer, got 'two'"),
    (["--json", ""], "--json: expected a file path, got an empty string"),
    (["--json", "{tmp}/missing/out.json"], "does not exist"),
    (["--json", "{tmp}"], "is a directory"),
    (["--json", "{file}/out.json"], "is not a directory"),
    (["--threads", "-3"], "--threads: expected an integer in [0,"),
    (["--threads", "1000000"], "--threads: expected an integer in [0,"),
    (["--seed", "-1"], "--seed: expected an integer in [0,"),
    (["--device", "cuda"], "no CUDA device"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
    # cv and train
    (["cv", "--folds", "1"], "--folds: expected an integer of at least 2"),
    (["cv", "--loss", ""], "--loss: expected a loss class name, got an empty string"),  # not the default
    (["cv", "--optimizer", ""], "--optimizer: expected an optimizer name, got an empty string"),
    (["train", "--optimizer", " "], "--optimizer: expected an optimizer name, got an empty string"),
    (["train", "--activation", ""], "--activation: expected an activation name, got an empty string"),
    (["cv", "--holdout", "1.5"], "--holdout: expected a fraction strictly between 0 and 1"),
    (["cv", "--holdout", "0"], "--holdout: expected a fraction"),
    (["cv", "--limit", "5"], "needs at least 5 per class"),
    (["cv", "--limit", "1"], "--limit: expected an integer of at least 2"),
    (["cv", "--limit", "30", "--folds", "3", "--loo"], "not allowed with argument"),
    (["cv", "--dataset", "diabetes", "--limit", "3", "--folds", "4"], "n_splits=4 greater than the number of samples"),
    (["cv", "--epochs", "0"], "--epochs: expected an integer of at least 1"),
    (["cv", "--batch-size", "0"], "--batch-size: expected an integer of at least 1"),
    (["cv", "--device", "cuda"], "no CUDA device"),
    (["cv", "--lr", "-1"], "--lr: expected a number >= 0"),
    (["cv", "--lr", "nan"], "--lr: expected a finite number"),
    (["cv", "--hidden", "64,0"], "--hidden: expected an integer of at least 1, got '0'"),
    (["cv", "--model-arg", "batch_norm"], "--model-arg: expected KEY=VALUE"),
    (["cv", "--model-arg", "foo=1"], "unexpected keyword argument 'foo'"),
    (["cv", "--hidden", "100000000000", "--limit", "100"], "the recipe cannot be built: "),  # terabytes of weights
    (["cv", "--activation", "nosuch"], "unknown activation 'nosuch'"),
    (["cv", "--optimizer", "adam", "--momentum", "0.9"], "unexpected keyword argument 'momentum'"),
    (["cv", "--optimizer", "nosuch"], "manual.optim has no such optimizer (available: adagrad, adam"),
    (["cv", "--optimizer", "sgd", "--loss", "NoSuchLoss"], "--loss NoSuchLoss: no such class in compare.registry, nor in manual.nn, nor in torch.nn or torch_ref.nn"),
    (["cv", "--model", "logreg"], "--model logreg has one logit"),
    (["cv", "--json", ""], "--json: expected a file path"),
    (["cv", "--json", "{tmp}/missing/cv.json"], "does not exist"),
    (["train", "--epochs", "0"], "--epochs: expected an integer of at least 1"),
    (["train", "--test-size", "1"], "--test-size: expected a fraction strictly between 0 and 1"),
    (["train", "--limit", "5"], "a stratified hold-out split needs at least 2 per class"),
    (["train", "--threads", "-3"], "--threads: expected an integer in [0,"),
    (["train", "--device", "cuda"], "no CUDA device"),
    # plots
    (["plots"], "the following arguments are required: --out"),
    (["plots", "--out", ""], "--out: expected a directory path"),
    (["plots", "--out", "{file}"], "is a file; expected a directory"),
    (["plots", "--out", "{file}/figures"], "is not a directory"),
    (["plots", "--out", "{tmp}", "--only", "nosuch"], "invalid choice: 'nosuch'"),
    (["plots", "--out", "{tmp}", "-j", "-1"], "--jobs: expected an integer in [0,"),
    # ddp
    (["ddp", "--port", "70000"], "--port: expected an integer in [0, 65535], got '70000'"),
    (["ddp", "--seed", "-1"], "--seed: expected an integer in [0,"),
    (["ddp", "--timeout", "nan"], "--timeout: expected a finite number, got 'nan'"),
    (["ddp", "--fail-rank", "2"], "--fail-rank must name a rank in [0, 1], got 2"),  # it would inject nothing
    (["ddp", "--timeout", "0"], "--timeout: expected seconds in [0.001, 86400], got '0'"),
    (["ddp", "--timeout", "1e-320"], "--timeout: expected seconds in [0.001, 86400]"),  # 0 ms to torch's store
    (["ddp", "--timeout", "1e300"], "--timeout: expected seconds in [0.001, 86400]"),
    (["ddp", "--optimizer", "adagrad"], "invalid choice: 'adagrad'"),
    # bench
    (["bench", "--sizes", "gpu-xl"], "no size can run"),
    (["bench", "--sizes", "gpu-xl", "--backends", "manual"], "no size can run"),
    (["bench", "--backends", "torch-cuda"], "none of them is present"),
    (["bench", "--sizes", "huge"], "invalid choice: 'huge'"),
    (["bench", "--threads", "0"], "--threads: expected an integer in [1,"),
    (["bench", "--gemm-n", "0"], "--gemm-n: expected an integer of at least 1"),
    (["bench", "--gemm-n", "10000000"], "float32 matrices need 1117587.1 GiB; this machine has"),
    (["bench", "--json", "{tmp}/missing/bench.json"], "does not exist"),
    (["bench", "--markdown", "{tmp}"], "is a directory"),
]


@pytest.fixture
def no_work(monkeypatch):
    """No CUDA (the refusals must not depend on the machine), and every command's work made to fail loudly."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def work(*args, **kwargs):
        raise AssertionError("work started before the command line was refused")

    for module, name in [(main_job, "execute"), (pool, "run_all"), (cv, "run_cv"), (training, "TwinTrainer"),
                         (timing, "bench_size"), (machine, "pin_threads"), (plots, "figure"), (tasks, "run_tasks"),
                         (launcher, "run")]:
        monkeypatch.setattr(module, name, work)
    # the forkserver a check-like command line starts before it is parsed (compare/__main__.py): a refused
    # command's process ends at once and takes it along, but in this process it would stay (2 s of CPU to start)
    monkeypatch.setattr(server, "start_early", lambda argv: None)


@pytest.mark.parametrize("argv, phrase", REFUSED, ids=[" ".join(argv) or "-" for argv, _ in REFUSED])
def test_a_command_line_that_cannot_mean_a_run_is_refused_in_one_line(argv, phrase, tmp_path, capsys, no_work,
                                                                      torch_threads):
    (tmp_path / "a_file").write_text("")
    argv = [word.format(tmp=tmp_path, file=tmp_path / "a_file") for word in argv]
    threads = torch.get_num_threads()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("python -m compare") and ": error: " in err, err
    if phrase not in err and "needs scikit-learn" in err and importlib.util.find_spec("sklearn") is None:
        pytest.skip("this refusal reads the dataset, which needs the [sklearn] extra: refused for that instead")
    assert phrase in err, err
    assert torch.get_num_threads() == threads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing written, no directory made


INSTALLS = {extra: (f'python -m pip install -e ".[{extra}]"', f'python -m pip install "backprop-crosscheck[{extra}]"')
            for extra in ("sklearn", "plot")}


@pytest.mark.parametrize("argv, package, extra", [(["cv"], "sklearn", "sklearn"), (["train"], "sklearn", "sklearn"),
                                                  (["plots", "--out", "{tmp}"], "matplotlib", "plot")])
def test_a_missing_extra_is_refused_with_the_install_command(argv, package, extra, tmp_path, capsys, monkeypatch,
                                                             no_work):
    monkeypatch.setitem(sys.modules, package, None)  # importing it now raises ImportError
    assert main([word.format(tmp=tmp_path) for word in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.count("python -m compare") == 1, err  # one line, the prefix once
    assert f"the optional extra [{extra}]" in err and all(command in err for command in INSTALLS[extra]), err


def test_help_says_what_the_check_does_and_shows_its_options(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "runs the training catalogue" in out and all(f"    {name} " in out for name in SUBCOMMANDS), out
    assert all(option in out for option in ("--only SUBSTRING", "--list", "--dtype", "--json PATH")), out
    assert "lists them" not in out


@pytest.mark.parametrize("command, extra", [("cv", "sklearn"), ("train", "sklearn"), ("plots", "plot")])
def test_the_help_of_a_command_names_the_extra_it_needs(command, extra, capsys):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Needs the optional extra [{extra}]" in out and all(command in out for command in INSTALLS[extra]), out


def test_help_and_version(capsys):
    assert main(["cv", "--help"]) == 0 and "--folds K" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert f"backprop-crosscheck {compare.__version__}" in capsys.readouterr().out


def test_one_version_from_pyproject():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert manual.__version__ == torch_ref.__version__ == compare.__version__ == version
    assert importlib.metadata.version("backprop-crosscheck") == version


def test_the_packages_ship_their_type_hints_and_the_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in ("manual", "torch_ref", "compare"):
        assert (ROOT / package / "py.typed").is_file()
        assert "py.typed" in project["tool"]["setuptools"]["package-data"][package]
    assert project["project"]["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()


def test_a_valid_filter_still_lists(capsys):
    assert main(["--list", "--only", "adamw"]) == 0
    assert "optim-softmaxreg-ce-adamw-cosine" in capsys.readouterr().out


def test_ctrl_c_in_one_process_reports_the_finished_rows_and_writes_no_json(tmp_path, capsys, monkeypatch):
    """-j 1, the runs in this process: Ctrl-C (KeyboardInterrupt) during the second run. A real SIGINT to a real
    process, with workers, is tests/workers/test_pool.py's."""
    execute, started = main_job.execute, []

    def interrupted_in_the_second_run(run, *args, **kwargs):
        started.append(run.name)
        if len(started) == 2:
            raise KeyboardInterrupt
        return execute(run, *args, **kwargs)

    monkeypatch.setattr(main_job, "execute", interrupted_in_the_second_run)
    report = tmp_path / "out.json"
    report.write_text("the previous run's report\n")
    assert main(["--only", "relu", "--steps", "2", "-j", "1", "--json", str(report)]) == 128 + signal.SIGINT
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines() if line.startswith(tuple(started))] == started[:1], out
    assert "INTERRUPTED after 1 of" in out and "no JSON written" in out, out
    assert err.count("\n") == 1 and started[0] in err, err  # the finished run's line, no traceback
    assert report.read_text() == "the previous run's report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left either


def start(args, tmp_path, **kwargs):
    # SIGINT back to its default, so that Python installs its handler even when the test runner ignores it
    return subprocess.Popen([sys.executable, "-m", "compare", *args], cwd=tmp_path, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    process = start(["--list"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head -1` does once it has its line: every write now meets a closed pipe
    err = process.stderr.read()
    assert process.wait(timeout=120) == 128 + signal.SIGPIPE
    assert err == ""

