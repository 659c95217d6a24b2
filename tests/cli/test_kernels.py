"""A sample of the catalogue passes under every kernel setting of compare/cli/kernels.py (torch's default, AVX2 and
best CPU capability; NumPy's OpenBLAS forced to Haswell), each in its own process (the variables are read when
the libraries load); `python -m compare kernels` runs the whole catalogue so.

"best" (neither variable set) is the setting this test process runs in, where tests/catalogue/test_catalogue.py runs every
case: it gets a process of its own only when the caller's environment sets one of the variables."""
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from compare.__main__ import main
from compare.cli import kernels
from compare.cli.kernels import run_setting
from compare.engine.kernels import KERNEL_VARIABLES, SETTINGS

# the two cases issue 12 saw fail on a Zen 4 (silu at the best capability, gelu_tanh at AVX2), BatchNorm with
# its eval steps, and the weighted NLL
SAMPLE = ["mlp6-7_silu-ce-sgd_nesterov_wd", "mlp6-7_gelu_tanh-ce-sgd_nesterov_wd",
          "mlp8-8_relu_bn-ce-sgd_mom-train_then_eval", "softmaxreg_logsoftmax-nll_w_ignore-sgd_mom"]
RUNS_HERE = not any(variable in os.environ for variable in KERNEL_VARIABLES)
CHILDREN = [name for name, variables in SETTINGS.items() if variables or not RUNS_HERE]


@pytest.fixture(scope="module")
def children() -> dict:
    """Every setting's child, started together: each runs on one thread, mostly torch's start-up."""
    with ThreadPoolExecutor(len(CHILDREN)) as pool:
        return dict(zip(CHILDREN, pool.map(lambda setting: run_setting(setting, SAMPLE), CHILDREN), strict=True))


@pytest.mark.parametrize("setting", CHILDREN)
@pytest.mark.heavy  # three interpreters, one per kernel setting
def test_a_sample_of_the_catalogue_passes_under_each_kernel_setting(setting, children):
    found = children[setting]
    assert found["setting"] == setting
    assert found["runs"] == 2 * len(SAMPLE)
    assert found["passed"], found
    expected = SETTINGS[setting].get("ATEN_CPU_CAPABILITY")
    if expected == "default":  # the variable can only lower the capability; "default" is always available
        assert found["kernels"]["torch"] == "DEFAULT", found["kernels"]


def test_the_sample_is_in_the_catalogue_and_best_is_the_unforced_setting():
    from compare.catalogue.training_cases import CATALOGUE
    assert set(SAMPLE) <= {case.name for case in CATALOGUE}  # so tests/catalogue/test_catalogue.py runs it here
    assert SETTINGS["best"] == {} and set(CHILDREN) >= set(SETTINGS) - {"best"}


@pytest.mark.parametrize("code, says", [(4, "pytest refused the arguments (exit 4)"),
                                        (5, "pytest collected no test from them (exit 5)")])
def test_pytest_arguments_that_run_no_test_are_refused_after_the_first_setting(monkeypatch, capsys, code, says):
    """pytest's usage error and "no tests collected" are the same under every setting: exit 2, one line, and no
    other setting's pytest started (they printed "exit 4" per setting and failed the command as a FAIL would)."""
    started = []

    def pytest_run(command, env):
        started.append(command)
        return subprocess.CompletedProcess(command, code)

    monkeypatch.setattr(kernels.subprocess, "run", pytest_run)
    assert main(["kernels", "--pytest", "no_such_test.py"]) == 2
    assert len(started) == 1 and started[0][-3:] == ["-m", "pytest", "no_such_test.py"]
    assert capsys.readouterr().err.strip() == (f"python -m compare kernels: error: --pytest no_such_test.py: {says} "
                                               f"under {next(iter(SETTINGS))}; no other setting was run")
