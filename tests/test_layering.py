"""DESIGN.md's arrows. Between the packages: manual never imports torch; torch_ref never imports manual (each
arrow in a fresh interpreter, what is imported being the point, its packages imported in turn). Inside
compare: each room imports only the rooms below it, no module takes a name from one that merely imported it,
no import cycle, and no folder or module grows past what one reader takes in (read from the source)."""
import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
import importlib, sys
for package in sys.argv[2:]:
    importlib.import_module(package)
    if sys.argv[1] in sys.modules:
        sys.exit(f"{package} imports {sys.argv[1]}")
"""


@pytest.mark.parametrize("packages, forbidden", [(["manual", "manual.models"], "torch"), (["torch_ref"], "manual")],
                         ids=["manual-torch", "torch_ref-manual"])
@pytest.mark.heavy  # an interpreter each, one importing torch (1.5 s of CPU)
def test_package_does_not_import(packages, forbidden):
    done = subprocess.run([sys.executable, "-c", CODE, forbidden, *packages], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- inside compare: rooms, and the arrows between them, read from the source (lazy imports included) --------------
ROOT = Path(__file__).resolve().parents[1] / "compare"
JOBS = ("bench", "distributed", "realdata", "plots", "explain")
FACES = ("testing", "pytest_plugin", "registry")  # the public faces users import, with `python -m compare`
# room -> the rooms it may import besides itself (DESIGN.md: cli -> jobs -> checks -> engine -> registry; the
# catalogue is data; registry imports only the catalogue's pure data modules, PURE_DATA below)
ALLOWED = {
    "cli": {"cli", "catalogue", "engine", "checks", "workers", *JOBS, *FACES, "compare"},
    "workers": {"catalogue", "engine", "checks", "registry"},  # the worker processes of the check (-j)
    **{job: {"catalogue", "engine", "checks", "registry"} for job in JOBS},
    "plots": {"catalogue", "engine", "checks", "registry", "realdata"},
    "checks": {"catalogue", "engine", "registry"},
    "catalogue": {"registry"},
    "engine": {"registry"},
    "registry": {"catalogue"},
    "testing": {"catalogue", "engine", "checks", "registry", "explain"},
    "pytest_plugin": {"testing"},
    "compare": set(),
}
# the catalogue's modules that import nothing of compare, whose types the public face compare.registry re-exports
PURE_DATA = {"compare.catalogue.case_types", "compare.catalogue.batches", "compare.catalogue.inputs"}
PUBLIC_PACKAGES = {"compare"}  # package __init__s that may re-export (compare.__version__)
MAX_MODULES_PER_FOLDER, MAX_LINES = 12, 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "compare"
    return "cli" if parts[1] == "__main__" else parts[1]


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


@functools.cache  # each module's source parsed once, not once per test that reads it (1 s in all)
def tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


@functools.cache
def imports(module: str) -> tuple[tuple[str, str | None], ...]:
    """(imported compare module, name taken from it or None) for every import statement, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "compare"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "compare":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (base, alias.name))
    return tuple(found)


def test_the_module_list_is_read():
    assert {"compare.cli.check", "compare.engine.step_loop", "compare.registry"} <= MODULES.keys()
    assert ("compare.engine.twins", "classes") in imports("compare.checks.module_check")


@pytest.mark.parametrize("module", MODULES)
def test_imports_run_one_way(module):
    wrong = sorted({target for target, _ in imports(module) if room(target) not in ALLOWED[room(module)] | {room(module)}})
    assert not wrong, f"{module} ({room(module)}) imports {wrong}; {room(module)} may import {sorted(ALLOWED[room(module)])}"


def test_registry_imports_only_the_pure_data_modules_which_import_nothing_of_compare():
    assert {target for target, _ in imports("compare.registry")} == PURE_DATA
    assert not {module: imports(module) for module in PURE_DATA if imports(module)}


@pytest.mark.parametrize("module", MODULES)
def test_no_module_takes_a_name_from_a_module_that_only_imported_it(module):
    """`from compare.X import name` finds `name` defined in X (no re-exports but the public package's)."""
    borrowed = []
    for target, name in imports(module):
        if name is None or target in PUBLIC_PACKAGES:
            continue
        body = tree(target).body
        defined = {node.name for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        defined |= {t.id for node in body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
        defined |= {node.target.id for node in body if isinstance(node, ast.AnnAssign)
                    and isinstance(node.target, ast.Name)}
        if name not in defined:
            borrowed.append(f"{name} from {target}")
    assert not borrowed, f"{module} imports names its source does not define: {borrowed}"


def test_no_import_cycle():
    graph = {module: {target for target, _ in imports(module) if target in MODULES and target != module}
             for module in MODULES}
    done, path = set(), []

    def visit(module):
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            if not (target == module.rpartition(".")[0]):  # a module's own package __init__ runs first anyway
                visit(target)
        path.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


def test_rooms_stay_small():
    folders = {}
    for module, path in MODULES.items():
        folders.setdefault(path.parent, []).append(module)
    crowded = {str(folder.relative_to(ROOT.parent)): len(modules) for folder, modules in folders.items()
               if len(modules) > MAX_MODULES_PER_FOLDER}
    long = {module: n for module, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not crowded and not long, f"folders over {MAX_MODULES_PER_FOLDER} modules: {crowded}; " \
                                     f"modules over {MAX_LINES} lines: {long}"
