"""Classes and cases that user code adds to the catalogues, without editing or monkey-patching any package.

    from compare import registry
    registry.register_module("Swish", Swish, TorchSwish)           # manual class, torch class
    registry.register_case(ModuleCase("swish", ("Swish", {"beta": 1.5}), normal(4, 5)))

Every lookup by name (compare/checks/module_check.py: a ModuleCase's module; compare/engine/twins.py: a Case's model, loss
and optimizer) consults this registry first, then the built-in namespaces (manual.nn / torch.nn / torch_ref.nn,
manual.models / torch_ref.models, manual.optim / torch.optim). A registered class is called exactly as the
built-in class it stands beside: a module or loss with the case's kwargs (manual's also with `dtype=` when its
constructor takes one), a model with the case's kwargs plus `dtype=` (manual) or `device=, dtype=` (torch), an
optimizer with (parameters, **kwargs). Registered cases join the catalogue's `select()` (compare.catalogue's
module_cases.select for a ModuleCase, training_cases.select for a training Case) in the process that registered them.

Nothing here imports torch or any other part of compare: a case is told apart by its fields (`module` or `model`),
and the built-in catalogues reserve their own names here as they load.
"""
from __future__ import annotations

import contextlib

_MODULES: dict[str, tuple[type, type]] = {}  # modules, losses and models: name -> (manual class, torch class)
_OPTIMIZERS: dict[str, tuple[type, type]] = {}
_MODULE_CASES: list = []
_TRAINING_CASES: list = []
_BUILTIN_NAMES: dict[str, set[str]] = {"module": set(), "training": set()}  # reserve_builtin_names


def _register(table: dict, kind: str, name: str, manual_cls, torch_cls, replace: bool) -> None:
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
    catalogue. Names are unique within each catalogue, the built-in cases included."""
    kind = _kind(case)
    table = _MODULE_CASES if kind == "module" else _TRAINING_CASES
    taken = _BUILTIN_NAMES[kind] | {existing.name for existing in table}
    if case.name in taken:
        raise ValueError(f"register_case: a case named {case.name!r} is already in the catalogue")
    table.append(case)


def reserve_builtin_names(kind: str, names) -> None:
    """Called by the built-in catalogues as they load (compare/catalogue/): their case names cannot be registered.
    A name registered before its catalogue loaded is refused then, so the order of imports does not matter."""
    registered = {case.name for case in (_MODULE_CASES if kind == "module" else _TRAINING_CASES)}
    clash = sorted(registered & set(names))
    if clash:
        raise ValueError(f"register_case: a case named {clash[0]!r} is already in the catalogue")
    _BUILTIN_NAMES[kind] |= set(names)


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
    saved = dict(_MODULES), dict(_OPTIMIZERS), list(_MODULE_CASES), list(_TRAINING_CASES)
    try:
        yield
    finally:
        for table, before in zip((_MODULES, _OPTIMIZERS, _MODULE_CASES, _TRAINING_CASES), saved, strict=True):
            table.clear()
            if isinstance(table, dict):
                table.update(before)
            else:
                table.extend(before)
