"""Classes and cases that user code adds to the catalogues, without editing or monkey-patching any package.

    from compare import registry
    registry.register_module("Swish", Swish, TorchSwish)           # manual class, torch class
    registry.register_case(registry.ModuleCase("swish", ("Swish", {"beta": 1.5}), registry.normal(4, 5)))

Every lookup by name (compare/checks/module_check.py: a ModuleCase's module; compare/engine/twins.py: a Case's model, loss
and optimizer) consults this registry first, then the built-in namespaces (manual.nn / torch.nn / torch_ref.nn,
manual.models / torch_ref.models, manual.optim / torch.optim). A registered class is called exactly as the
built-in class it stands beside: a module or loss with the case's kwargs (manual's also with `dtype=` when its
constructor takes one), a model with the case's kwargs plus `dtype=` (manual) or `device=, dtype=` (torch), an
optimizer with (parameters, **kwargs). Registered cases join the catalogue's `select()` (compare.catalogue's
module_cases.select for a ModuleCase, training_cases.select for a training Case) in the process that registered them.

What a registration needs is importable from here, so user code imports nothing else of compare: the case types
(`Case`, `ModuleCase`), the batch streams (`Batches`, `TextWindows`, `SineSequences`) and the input factories
(`normal`, `with_values`, `class_indices`, ...). They live in the catalogue's pure data modules
(compare/catalogue/case_types.py, batches.py, inputs.py), which import nothing of compare; registry imports those
three and nothing else of compare (tests/test_layering.py). A case is told apart by its fields (`module` or
`model`), and the built-in catalogues reserve their own names here as they load.

Plugins: `load_plugins(["pkg.cases"])` (`python -m compare --plugin pkg.cases`) imports modules that register
classes and cases, and every entry point of the group `backprop_crosscheck.cases` that installed packages declare
(a module, imported; or a function, called with no arguments):

    [project.entry-points."backprop_crosscheck.cases"]
    my_layers = "my_package.crosscheck_cases"

`origin(case)` says where each case came from: built-in, plugin MODULE, entry point NAME (its package), or
registered by user code.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import sys

from compare.catalogue.batches import Batches, SineSequences, TextWindows
from compare.catalogue.case_types import DTYPES, Case, ModuleCase
from compare.catalogue.inputs import (
    affine_state,
    batch_norm_state,
    binary,
    class_indices,
    class_probabilities,
    indices,
    log_probabilities,
    normal,
    probabilities,
    tied,
    tied_maxout_state,
    uniform,
    with_values,
)

__all__ = ["DTYPES", "Batches", "Case", "ModuleCase", "SineSequences", "TextWindows", "affine_state",
           "batch_norm_state", "binary", "class_indices", "class_probabilities", "indices", "log_probabilities",
           "normal", "probabilities", "tied", "tied_maxout_state", "uniform", "with_values",
           "register_module", "register_optimizer", "register_case", "load_plugins", "origin", "PluginError",
           "ENTRY_POINT_GROUP"]
ENTRY_POINT_GROUP = "backprop_crosscheck.cases"
BUILT_IN, BY_USER_CODE = "built-in", "registered by user code"

_MODULES: dict[str, tuple[type, type]] = {}  # modules, losses and models: name -> (manual class, torch class)
_OPTIMIZERS: dict[str, tuple[type, type]] = {}
_MODULE_CASES: list = []
_TRAINING_CASES: list = []
_BUILTIN_NAMES: dict[str, set[str]] = {"module": set(), "training": set()}  # reserve_builtin_names
_ORIGINS: dict[tuple[str, str], str] = {}  # (kind, case name) -> where it was registered from
_LOADING: list[str] = []  # the origin of the plugin being loaded now (innermost last)
_LOADED: set[str] = set()  # plugins and entry points already loaded in this process


class PluginError(Exception):
    """A plugin module or entry point that could not be loaded; nothing it registered is kept."""


def _register(table: dict, kind: str, name: str, manual_cls, torch_cls, replace: bool) -> None:
    if not isinstance(name, str) or not name.strip():
        error = ValueError if isinstance(name, str) else TypeError
        raise error(f"register_{kind}({name!r}): the name must be a non-empty string (what cases write in their "
                    f"specs)")
    if not (callable(manual_cls) and callable(torch_cls)):
        raise TypeError(f"register_{kind}({name!r}): expected a manual class and a torch class, "
                        f"got {type(manual_cls).__name__} and {type(torch_cls).__name__}")
    if name in table and not replace and table[name] != (manual_cls, torch_cls):
        raise ValueError(f"register_{kind}({name!r}): already registered as {table[name]} (pass replace=True)")
    table[name] = (manual_cls, torch_cls)


def register_module(name: str, manual_cls, torch_cls, *, replace: bool = False) -> None:
    """Let cases name a layer, loss or model `name`: built as `manual_cls(...)` and `torch_cls(...)`."""
    _register(_MODULES, "module", name, manual_cls, torch_cls, replace)


def register_optimizer(name: str, manual_cls, torch_cls, *, replace: bool = False) -> None:
    """Let training cases name an optimizer `name`: built as `cls(model.parameters(), **kwargs)` on each side."""
    _register(_OPTIMIZERS, "optimizer", name, manual_cls, torch_cls, replace)


def register_case(case) -> None:
    """Add a ModuleCase (it has `.module`) to the module catalogue or a training Case (`.model`) to the training
    catalogue. Names are unique within each catalogue, the built-in cases included. A case that cannot mean a check
    (no name, no step, no dtype, a spec that is not a (class name, kwargs) pair, ...) is refused, every reason named."""
    kind = _kind(case)
    problems = _case_problems(kind, case)
    if problems:
        raise ValueError(f"register_case({getattr(case, 'name', None)!r}): " + "; ".join(problems))
    table = _MODULE_CASES if kind == "module" else _TRAINING_CASES
    taken = _BUILTIN_NAMES[kind] | {existing.name for existing in table}
    if case.name in taken:
        raise ValueError(f"register_case: a case named {case.name!r} is already in the catalogue")
    table.append(case)
    _ORIGINS[(kind, case.name)] = _LOADING[-1] if _LOADING else BY_USER_CODE


def origin(case) -> str:
    """Where a case (a Case or ModuleCase of either catalogue) came from: "built-in", "plugin MODULE",
    "entry point NAME = VALUE (PACKAGE)" or "registered by user code"."""
    return _ORIGINS.get((_kind(case), case.name), BUILT_IN)


def _snapshot():
    return dict(_MODULES), dict(_OPTIMIZERS), list(_MODULE_CASES), list(_TRAINING_CASES), dict(_ORIGINS), set(_LOADED)


def _restore(saved) -> None:
    tables: tuple = (_MODULES, _OPTIMIZERS, _MODULE_CASES, _TRAINING_CASES, _ORIGINS, _LOADED)
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        if isinstance(table, list):
            table.extend(before)
        else:
            table.update(before)


def _load(what: str, load, empty: str | None = None) -> None:
    """Run `load` with registrations credited to `what`; on any error undo them and raise PluginError. With
    `empty`, a load that registered nothing is refused too, `empty` saying why it could be."""
    if what in _LOADED:
        return
    saved = _snapshot()
    _LOADING.append(what)
    try:
        load()
        if empty is not None and _snapshot()[:4] == saved[:4]:
            raise PluginError(f"{what}: registered no class and no case ({empty}: is it the plugin you meant?)")
    except Exception as error:
        _restore(saved)
        if isinstance(error, PluginError):
            raise
        raise PluginError(f"{what}: loading failed: {type(error).__name__}: {error}") from error
    finally:
        _LOADING.pop()
    _LOADED.add(what)


def _call_entry_point(point) -> None:
    loaded = point.load()
    if callable(loaded) and not inspect.ismodule(loaded):
        loaded()


def load_plugins(modules=(), *, entry_points: bool = True) -> None:
    """Import each module in `modules` (dotted names, as `--plugin` gives them) and, with `entry_points`, load
    every entry point of ENTRY_POINT_GROUP, so that the classes and cases they register join the catalogues.
    Each is loaded once per process; one that fails raises PluginError and leaves the registry as it was. So does
    a module in `modules` that was imported before the call and registers nothing: naming it ran no code at all
    (`--plugin abc` named the standard library's abc). A module imported here runs its code, which may be all it is
    for (an atexit hook, a setting), so it is taken though it registers nothing."""
    imported_before = set(sys.modules)
    if entry_points:
        for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            package = f" ({point.dist.name})" if point.dist is not None else ""
            _load(f"entry point {point.name} = {point.value}{package}", lambda point=point: _call_entry_point(point))
    for name in modules:
        empty = "it was imported before, so naming it ran no code" if name in imported_before else None
        _load(f"plugin {name}", lambda name=name: importlib.import_module(name), empty)


def reserve_builtin_names(kind: str, names) -> None:
    """Called by the built-in catalogues as they load (compare/catalogue/): their case names cannot be registered.
    A name registered before its catalogue loaded is refused then, so the order of imports does not matter."""
    registered = {case.name for case in (_MODULE_CASES if kind == "module" else _TRAINING_CASES)}
    clash = sorted(registered & set(names))
    if clash:
        raise ValueError(f"register_case: a case named {clash[0]!r} is already in the catalogue")
    _BUILTIN_NAMES[kind] |= set(names)


def _case_problems(kind: str, case) -> list[str]:
    """Why a case of `kind` ("module" or "training") cannot mean a check; [] when nothing stops it."""
    problems = []
    name = getattr(case, "name", None)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"name must be a non-empty string, got {name!r}")
    specs = ("module",) if kind == "module" else ("model", "loss", "optimizer", "scheduler", "clip")
    for field in specs:
        spec = getattr(case, field, None)
        if spec is None and field in ("scheduler", "clip"):
            continue
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict)):
            problems.append(f"{field} must be a (class name, keyword arguments) pair, got {spec!r}")
    if kind == "module":
        makers = {"input": case.input, **{f"extra_inputs[{i}]": maker for i, maker in enumerate(case.extra_inputs)}}
        makers.update({field: getattr(case, field) for field in ("target", "state") if getattr(case, field) is not None})
        problems += [f"{field} must be a function of a NumPy generator, got {maker!r}"
                     for field, maker in makers.items() if not callable(maker)]
        if not (isinstance(case.fd_eps, (int, float)) and 0 < case.fd_eps < float("inf")):
            problems.append(f"fd_eps (the finite-difference step) must be a finite number above 0, got {case.fd_eps!r}")
        return problems
    for field, least in (("steps", 1), ("eval_steps", 0)):
        value = getattr(case, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            problems.append(f"{field} must be an integer of at least {least}, got {value!r}")
    dtypes = case.dtypes
    if not isinstance(dtypes, tuple) or not dtypes or any(dtype not in DTYPES for dtype in dtypes):
        problems.append(f"dtypes must be a tuple of one or more of {DTYPES}, got {dtypes!r}")
    if not callable(getattr(case.data, "stream", None)):
        problems.append(f"data must be a batch stream (Batches, TextWindows, SineSequences, ...), got {case.data!r}")
    return problems


def _kind(case) -> str:
    if hasattr(case, "module"):
        return "module"
    if hasattr(case, "model"):
        return "training"
    raise TypeError(f"register_case: expected a compare.catalogue.case_types.ModuleCase or Case, "
                    f"got {type(case).__name__}")


def module_classes(name: str) -> tuple[type, type] | None:
    """(manual class, torch class) registered for a module, loss or model `name`; None when none is."""
    return _MODULES.get(name)


def optimizer_classes(name: str) -> tuple[type, type] | None:
    return _OPTIMIZERS.get(name)


def module_cases() -> list:
    return list(_MODULE_CASES)


def training_cases() -> list:
    return list(_TRAINING_CASES)


@contextlib.contextmanager
def isolated():
    """Registrations made inside the block are undone at its end (tests that register classes or cases)."""
    saved = _snapshot()
    try:
        yield
    finally:
        _restore(saved)
