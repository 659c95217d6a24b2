"""Registration from the command line: `python -m compare --plugin PKG.MODULE` and the entry-point group
`backprop_crosscheck.cases` load a package outside the repository that registers its own layer, model and
cases, importing nothing of compare but the public face compare.registry; `--list` shows each case's origin."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compare import registry
from compare.catalogue import module_cases, training_cases
from compare.checks.module_check import check_module_case

ROOT = Path(__file__).resolve().parents[2]

# A user's layer (Swish) and a model using it, with their torch twins, and the cases that check them. Only
# compare.registry is imported from compare. `{prefix}` keeps names apart between tests; `{bug}` breaks the
# backward (a factor on the derivative) for the explain test.
PLUGIN = '''
import numpy as np
import torch

import manual.nn as nn
from compare import registry


class Swish(nn.Module):
    """y = x·σ(x); dL/dx = g·σ(x)·(1 + x·(1 - σ(x)))."""

    def forward(self, input):
        self.save_for_backward(input)
        return input / (1 + np.exp(-input))

    def backward(self, grad_output):
        (x,) = self.saved_for_backward()
        s = 1 / (1 + np.exp(-x))
        return grad_output * s * (1 + {bug}x * (1 - s))


class TorchSwish(torch.nn.Module):
    def forward(self, input):
        return input * torch.sigmoid(input)


class SwishNet(nn.Sequential):
    def __init__(self, width, dtype=None):
        super().__init__(nn.Linear(4, width, dtype=dtype), Swish(), nn.Linear(width, 3, dtype=dtype))


class TorchSwishNet(torch.nn.Sequential):
    def __init__(self, width, device=None, dtype=None):
        super().__init__(torch.nn.Linear(4, width, device=device, dtype=dtype), TorchSwish(),
                         torch.nn.Linear(width, 3, device=device, dtype=dtype))


def register():
    registry.register_module("{prefix}Swish", Swish, TorchSwish)
    registry.register_module("{prefix}SwishNet", SwishNet, TorchSwishNet)
    registry.register_case(registry.ModuleCase("{prefix}-swish", ("{prefix}Swish", {{}}), registry.normal(5, 6)))
    registry.register_case(registry.Case("{prefix}-swishnet-ce-sgd", ("{prefix}SwishNet", {{"width": 6}}),
                                         ("CrossEntropyLoss", {{}}), ("SGD", {{"lr": 0.1, "momentum": 0.9}}),
                                         registry.Batches("classification", 4, 3, batch_size=8), steps=3))
'''


def write_plugin(directory: Path, module: str, prefix: str, bug: str = "", on_import: bool = True) -> None:
    source = PLUGIN.format(prefix=prefix, bug=bug) + ("\nregister()\n" if on_import else "")
    (directory / f"{module}.py").write_text(textwrap.dedent(source))


def run(argv: list[str], path: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "compare", *argv], capture_output=True, text=True, cwd=path,
                          env=environment, timeout=600)


@pytest.mark.heavy  # an interpreter and its workers
def test_plugin_from_the_command_line_runs_its_case(tmp_path):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_plugin(package, "cases", "user")
    done = run(["--plugin", "userpkg.cases", "--only", "user-swish", "--steps", "2"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {kind: [line for line in done.stdout.splitlines() if line.startswith(f"{name} ") and f" {kind} " in line]
            for name, kind in (("user-swishnet-ce-sgd", "training"), ("user-swish", "module"))}
    assert all(len(found) == 2 and all(" PASS " in row for row in found) for found in rows.values()), done.stdout
    assert "4 of 4 case runs passed" in done.stdout


@pytest.mark.slow  # a second interpreter with torch (~10 s on a busy machine); explain itself: tests/explain/
def test_explain_names_the_plugins_wrong_layer(tmp_path):
    write_plugin(tmp_path, "buggy_cases", "buggy", bug="0.5 * ")
    done = run(["explain", "buggy-swishnet-ce-sgd", "--plugin", "buggy_cases", "--dtype", "float64"], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "first wrong: 1: Swish() (backward): receives a matching grad_output" in done.stdout, done.stdout
    assert "wrong: manual's backward" in done.stdout and "buggy_cases.Swish.backward" in done.stdout


def test_the_entry_point_group_registers_cases_and_list_shows_origins(tmp_path, monkeypatch, capsys):
    write_plugin(tmp_path, "ep_cases", "ep", on_import=False)
    dist_info = tmp_path / "fakecrosscheck-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakecrosscheck\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nswish = ep_cases:register\n")
    write_plugin(tmp_path, "cli_cases", "cli")
    monkeypatch.syspath_prepend(str(tmp_path))
    from compare.__main__ import main
    with registry.isolated():
        assert main(["--plugin", "cli_cases", "--list"]) == 0
        listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
        assert listed["ep-swishnet-ce-sgd"].endswith("[entry point swish = ep_cases:register (fakecrosscheck)]")
        assert listed["cli-swishnet-ce-sgd"].endswith("[plugin cli_cases]")
        assert listed["linreg-mse-sgd"].endswith("[built-in]")
        module_case = next(case for case in module_cases.select("ep-swish") if case.name == "ep-swish")
        assert registry.origin(module_case).startswith("entry point swish")
        assert not [c for c in check_module_case(module_case, "float64") if not c.passed]
    assert not training_cases.select("ep-swishnet") and not module_cases.select("ep-swish")


def test_a_plugin_that_fails_registers_nothing(tmp_path, monkeypatch, capsys):
    write_plugin(tmp_path, "half_cases", "half")
    with (tmp_path / "half_cases.py").open("a") as source:
        source.write("raise RuntimeError('the plugin breaks after registering')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with registry.isolated():
        with pytest.raises(registry.PluginError, match="plugin half_cases: loading failed: RuntimeError"):
            registry.load_plugins(["half_cases"], entry_points=False)
        assert not training_cases.select("half-") and not module_cases.select("half-")
        assert registry.module_classes("halfSwish") is None
    from compare.__main__ import main
    assert main(["--plugin", "no_such_plugin_module", "--list"]) == 2
    assert "plugin no_such_plugin_module: loading failed: ModuleNotFoundError" in capsys.readouterr().err


def test_a_plugin_imported_before_that_registers_nothing_is_refused_and_a_fresh_one_runs(tmp_path, monkeypatch,
                                                                                         capsys):
    """`--plugin abc` (the standard library's, imported at start-up) ran no code and registered nothing: refused.
    A module imported by --plugin runs its code, which may be all it is for (here: a setting), so it is taken."""
    (tmp_path / "setting_plugin.py").write_text("import os\nos.environ['SETTING_PLUGIN_RAN'] = '1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SETTING_PLUGIN_RAN", raising=False)
    from compare.__main__ import main
    with registry.isolated():
        assert main(["--plugin", "abc", "--list"]) == 2
        assert capsys.readouterr().err.strip().endswith("error: plugin abc: registered no class and no case (it was "
                                                        "imported before, so naming it ran no code: is it the plugin "
                                                        "you meant?)")
        assert not registry.module_cases() and not registry.training_cases()
        assert main(["--plugin", "setting_plugin", "--list"]) == 0 and os.environ["SETTING_PLUGIN_RAN"] == "1"


def test_a_plugin_an_earlier_plugin_imported_is_taken_its_cases_credited_to_that_one(tmp_path, monkeypatch, capsys):
    write_plugin(tmp_path, "inner_cases", "inner")
    (tmp_path / "outer_cases.py").write_text("import inner_cases  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from compare.__main__ import main
    with registry.isolated():
        assert main(["--plugin", "outer_cases", "--plugin", "inner_cases", "--list"]) == 0
        listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
        assert listed["inner-swishnet-ce-sgd"].endswith("[plugin outer_cases]")


def test_what_a_registration_needs_is_on_the_public_face():
    for name in ("Case", "ModuleCase", "Batches", "TextWindows", "SineSequences", "normal", "with_values",
                 "class_indices", "register_module", "register_optimizer", "register_case", "load_plugins", "origin"):
        assert name in registry.__all__ and hasattr(registry, name), name
    assert registry.Case is training_cases.Case


def test_the_examples_plugin_registers_cases_that_pass(monkeypatch):
    from compare.engine.step_loop import run_case
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "user_layer"))
    with registry.isolated():
        registry.load_plugins(["swish_cases"], entry_points=False)
        (module_case,) = module_cases.select("swish-5")
        (case,) = training_cases.select("swishnet-ce-sgd_mom")
        assert registry.origin(case) == "plugin swish_cases"
        assert not [c for dtype in ("float32", "float64") for c in check_module_case(module_case, dtype)
                    if not c.passed]
        assert all(run_case(case, dtype, steps=5).passed for dtype in ("float32", "float64"))
