"""Where the manual code that computes a module's forward or backward (or an optimizer's update) lives: its
qualified name and file:line (inspect), and the derivation line of its docstring (the formula), so a report
points at the line to read."""
from __future__ import annotations

import inspect
import os
import re
import sys

GRADIENT = re.compile(r"dL/d|∂L/∂")
DERIVATION = re.compile(r"dL/d|∂|d/d|[\w)]'(\(|\s*=)")  # dL/dx = ..., ∂L/∂W, f'(x) = ..., (x·σ)' = ...
OWN_CODE_SKIPPED = ("check", "_", "save_for_backward", "saved_for_backward", "accumulate")


def location(function) -> str:
    """`module.Qualified.name (path:line)`, the path relative to the working directory where it is below it."""
    function = inspect.unwrap(function)
    name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
    try:
        path, line = inspect.getsourcefile(function), inspect.getsourcelines(function)[1]
    except (TypeError, OSError):
        return name
    relative = os.path.relpath(path) if path else "?"
    return f"{name} ({path if relative.startswith('..') else relative}:{line})"


def _called(method, cls, backward: bool, depth: int = 2) -> list:
    """The functions `method` calls by name: the class's static ones (`derivative`) and own methods
    (`_step_backward`, followed `depth` levels), module-level ones, also through a module alias
    (`F.linear_backward`), that are not NumPy's or torch's and not helpers."""
    code = getattr(inspect.unwrap(method), "__code__", None)
    if code is None:
        return []
    scope = getattr(method, "__globals__", {})
    found = []
    for name in code.co_names:
        candidates = []
        static = inspect.getattr_static(cls, name, None) if cls is not None else None
        if isinstance(static, staticmethod):
            candidates.append(static.__func__)
        elif inspect.isfunction(static) and static.__name__.endswith("_backward") == backward and depth > 1:
            found += _called(static, cls, backward, depth - 1)
        candidates += [getattr(value, name) for value in [scope.get(name), *scope.values()]
                       if value is not None and inspect.ismodule(value)
                       and inspect.isfunction(getattr(value, name, None))]
        if inspect.isfunction(scope.get(name)):
            candidates.append(scope[name])
        for function in candidates:
            module = getattr(function, "__module__", "") or ""
            if module.startswith(("numpy", "torch", "builtins")) or function.__name__.startswith(OWN_CODE_SKIPPED):
                continue
            if function.__name__.endswith("_backward") == backward or isinstance(static, staticmethod):
                found.append(function)
    return list(dict.fromkeys(found))


def _docstring_lines(*owners) -> list[str]:
    """The lines of each owner's own docstring (not one inherited from a base class)."""
    return [line.strip() for owner in owners for line in inspect.cleandoc(getattr(owner, "__doc__", None) or "")
            .splitlines() if line.strip()]


SYMBOLS = {"weight": ("W", "w"), "bias": ("b",), "beta": ("β",), "gamma": ("γ",), "alpha": ("α",)}


def computing(module, direction: str, wrong: tuple = ()) -> tuple[list[str], str]:
    """([location of the method, of each function it calls], the derivation line) of `module`'s `direction`
    ("forward" or "backward"); for a backward, a line giving the gradient of a `wrong` parameter (dL/dβ for
    "beta") comes first."""
    cls = type(module)
    method = getattr(cls, direction)
    called = _called(method, cls, direction == "backward")
    functions = [location(method), *(location(f) for f in called)]
    lines = _docstring_lines(*called, method, cls, sys.modules.get(cls.__module__))  # the file's docstring last
    wanted = [re.compile(re.escape(f"dL/d{symbol}")) for name in wrong for symbol in (name, *SYMBOLS.get(name, ()))]
    if direction == "backward":  # a line with dL/d... = first, then any derivative written out
        derivation = next((line for pattern in (*wanted, GRADIENT, DERIVATION) for line in lines
                           if "=" in line and pattern.search(line)), None)
    else:
        derivation = next((line for line in lines if "=" in line), None)
    first = _docstring_lines(*called[:1]) or lines
    return functions, derivation or (first[0] if first else "")


def _rule_line(*owners) -> str:
    lines = _docstring_lines(*owners)
    return next((line for line in lines if line.startswith(("p", "θ")) and "=" in line),
                next((line for line in lines if "=" in line), lines[0] if lines else ""))


def optimizer_rule(optimizer) -> tuple[list[str], str]:
    """([location of the optimizer's update and the update function it calls], the rule line of its docstring)."""
    cls = type(optimizer)
    method = getattr(cls, "update", None) or cls.step
    called = [f for f in _called(method, cls, backward=False) if f.__name__.endswith(("_update", "_step"))]
    return [location(cls), location(method), *(location(f) for f in called)], _rule_line(cls, *called)


def function_rule(function) -> tuple[list[str], str]:
    """A plain function (clip_grad_norm_): its location and the first line of its docstring."""
    lines = _docstring_lines(function)
    return [location(function)], lines[0] if lines else ""
