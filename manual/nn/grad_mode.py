"""What a forward keeps for its backward, and `no_grad`: torch's saved-tensor version check, in O(1) per forward.

torch records a version counter with every tensor autograd saves and raises at `backward()` when the tensor
was modified in place in between ("one of the variables needed for gradient computation has been modified
by an inplace operation"). NumPy arrays carry no version counter, and hashing or copying every saved array
would cost as much as the forward itself. manual instead makes the edit itself fail:

- `lock(arrays)` (called by `Module.save_for_backward`) marks every ndarray among the saved values (inside
  tuples too) read-only, `flags.writeable = False`, and remembers which ones IT locked. An array that was
  already read-only is left alone (it is not ours to unlock). An array saved by two modules (ReLU's output,
  which the next Linear saves as its input) is locked once and counted twice: it becomes writeable again
  only when both have released it.
- `release(locked)` undoes one `lock`: when the module's backward consumes what it saved, when the module's
  next forward replaces it, or when a forward under `no_grad` drops it.
- An in-place edit in between (`x += 1`, `x[0] = 0`, `np.exp(x, out=x)`) then raises NumPy's
  "assignment destination is read-only" at the write, instead of a wrong gradient at the backward.

Limits (docs/INPLACE.md):
- Only the saved array objects are locked. An edit through a different view of the same memory (the base
  array of a saved slice, or another slice of it) is not seen: NumPy keeps the flag per array object.
  A view taken of a locked array is itself read-only for good (NumPy's rule), even after the release.
- Outside `no_grad`, a forward that is never followed by a backward keeps its saved arrays locked until the
  module's next forward (evaluation loops: run them under `no_grad`, as in torch).
- The registry is process-wide and not thread-safe (manual is single-threaded).

`no_grad()` mirrors `torch.no_grad()` (context manager and decorator): inside it a forward saves nothing and
locks nothing, so a backward after it raises "backward called without a matching forward".
"""
from __future__ import annotations

import functools

import numpy as np

_state = {"enabled": True}
_locks: dict[int, list] = {}  # id(array) -> [array, how many saves hold it]; the array is kept alive here
_pending: dict[int, np.ndarray] = {}  # released views whose base was locked meanwhile: unlocked when it is


def is_grad_enabled() -> bool:
    return _state["enabled"]


class no_grad:
    """`with manual.no_grad(): model(x)` (or `@manual.no_grad()`): forwards keep nothing for a backward."""

    def __enter__(self):
        self._previous = _state["enabled"]
        _state["enabled"] = False
        return self

    def __exit__(self, *exc_info):
        _state["enabled"] = self._previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with no_grad():
                return function(*args, **kwargs)
        return wrapper


def lock(values, held=None) -> list:
    """Make the ndarrays among `values` (and inside its tuples and lists) read-only; returns the ones this call
    holds, to pass to `release`. On the hot path of every forward: plain loops, `setflags`, one dict lookup."""
    if held is None:
        held = []
    for value in values:
        if isinstance(value, np.ndarray):
            key = id(value)
            entry = _locks.get(key)
            if entry is not None:
                entry[1] += 1
            elif value.flags.writeable or (_pending and _pending.pop(key, None) is not None):  # a waiting view is ours
                value.setflags(write=False)
                _locks[key] = [value, 1]
            else:
                continue  # read-only already, and not by us: left alone
            held.append(value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                if not isinstance(item, int):  # a shape (ints only) holds nothing to lock: no recursive call
                    lock(value, held)
                    break
    return held


def release(held) -> None:
    """Undo one `lock`: each array becomes writeable again when no other save holds it."""
    for array in held:
        key = id(array)
        entry = _locks[key]
        if entry[1] > 1:
            entry[1] -= 1
            continue
        del _locks[key]
        try:  # _unlock(array), inlined for the common case
            array.setflags(write=True)
        except ValueError:  # a view whose base is still read-only: it waits
            _pending[key] = array
        else:
            if _pending:
                _pending.pop(key, None)
    if _pending:
        for array in list(_pending.values()):
            _unlock(array)


def _unlock(array: np.ndarray) -> None:
    """writeable again; a view cannot be while its base is read-only, so it waits in `_pending` for that."""
    try:
        array.setflags(write=True)
        if _pending:
            _pending.pop(id(array), None)
    except ValueError:
        _pending[id(array)] = array


def locked_count() -> int:
    """How many arrays are locked now (for tests)."""
    return len(_locks)
