"""A run's errors as arrays: one row per tensor per step, TensorError objects made only for the rows asked for.

A run of the catalogue compares ~20-50 tensors at each of its steps; one Python object per tensor per step (120k
over the catalogue) and Python loops over them for the verdict, the worst error and the report's columns cost
more than the comparison itself. `ErrorColumns` holds one step's rows as NumPy columns (or, for the rare rows
decided one by one: missing tensors, shape mismatches, empty or non-finite tensors, the TensorErrors
themselves); `ErrorTable` chains a run's blocks in report order (per step: the rows decided one by one, then the
vectorised ones) and answers `passed`, `first_mismatch`, `worst`, `worst_rel` and the worst row per tensor with
NumPy. They pick the same row as the former Python loops over the list (the first of equal maxima); where a
ratio or relative error is NaN the answer comes from those loops over the materialised list, whose semantics
(NaN never replaces the current maximum) NumPy's do not share.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class TensorError:
    step: int
    name: str
    max_abs: float
    max_rel: float  # max |a - b| / max |b|: the error relative to the tensor's scale
    ratio: float  # |a - b| / allowed at the worst element: above 1 fails
    index: tuple
    manual: float
    torch: float
    allowed: float = math.nan  # the allowed |a - b| at that element (compare/engine/tolerances.py)
    scale: float = math.nan  # max |b| over the tensor's finite elements

    @property
    def passed(self) -> bool:
        return self.ratio <= 1.0

    def describe(self) -> str:
        """The element: where, both values, and its own |manual - torch|, relative to |torch|, and allowed
        (max_abs and max_rel are the tensor's: they may come from another element)."""
        diff = abs(self.manual - self.torch)
        rel = f"{diff / abs(self.torch):.3e}" if self.torch else ("0" if diff == 0 else "inf")
        return (f"step {self.step}, {self.name}{list(self.index)}: manual {self.manual!r} vs torch {self.torch!r} "
                f"(abs {diff:.3e}, rel {rel}, allowed {self.allowed:.3e})")

    def same_element(self, other: TensorError) -> bool:
        return (self.step, self.name, tuple(self.index)) == (other.step, other.name, tuple(other.index))


def unravel(flat: int, shape: tuple) -> tuple:
    """np.unravel_index for one position, as Python ints, without NumPy's per-call overhead."""
    if len(shape) == 1:
        return (flat,)
    if len(shape) == 2:
        return divmod(flat, shape[1])
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        index.append(i)
    return tuple(reversed(index))


_FIELDS = ("max_abs", "max_rel", "ratio", "manual", "torch", "allowed", "scale")


@dataclass
class ErrorColumns:
    """One step's rows: per tensor (names[i], shapes[i]) the TensorError fields as arrays, the worst element's
    flat position inside its tensor in `offset`; or, with `objects`, the TensorErrors themselves."""
    step: int
    names: list
    shapes: list | None = None
    max_abs: np.ndarray | None = None
    max_rel: np.ndarray | None = None
    ratio: np.ndarray | None = None
    offset: list | None = None
    manual: np.ndarray | None = None
    torch: np.ndarray | None = None
    allowed: np.ndarray | None = None
    scale: np.ndarray | None = None
    objects: list | None = None

    @classmethod
    def of(cls, errors: list[TensorError]) -> ErrorColumns:
        return cls(-1, [e.name for e in errors], max_rel=np.array([e.max_rel for e in errors], dtype=np.float64),
                   ratio=np.array([e.ratio for e in errors], dtype=np.float64), objects=list(errors))

    def __len__(self) -> int:
        return len(self.names)

    def row(self, i: int) -> TensorError:
        if self.objects is not None:
            return self.objects[i]
        assert self.shapes is not None and self.offset is not None, "ErrorColumns without objects holds every column"
        d, r, q = (float(getattr(self, f)[i]) for f in _FIELDS[:3])
        m, t, w, c = (float(getattr(self, f)[i]) for f in _FIELDS[3:])
        return TensorError(self.step, self.names[i], d, r, q, unravel(int(self.offset[i]), self.shapes[i]), m, t, w, c)

    def rows(self) -> list[TensorError]:
        if self.objects is not None:
            return list(self.objects)
        assert (self.shapes is not None and self.offset is not None and self.max_abs is not None
                and self.max_rel is not None and self.ratio is not None and self.manual is not None
                and self.torch is not None and self.allowed is not None and self.scale is not None), \
            "ErrorColumns without objects holds every column"
        return [TensorError(self.step, name, d, r, q, unravel(p, shape), m, t, w, c)
                for name, shape, d, r, q, p, m, t, w, c in zip(
                    self.names, self.shapes, self.max_abs.tolist(), self.max_rel.tolist(), self.ratio.tolist(),
                    self.offset, self.manual.tolist(), self.torch.tolist(), self.allowed.tolist(),
                    self.scale.tolist(), strict=True)]


class ErrorTable:
    """A run's rows in report order, from blocks of ErrorColumns (see the module docstring)."""

    def __init__(self, blocks: Sequence[ErrorColumns] = ()):
        self.blocks = [b for b in blocks if len(b)]
        sizes = np.array([len(b) for b in self.blocks], dtype=np.int64)
        self.block_of = np.repeat(np.arange(len(self.blocks)), sizes)
        self.block_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(sizes) else sizes
        self.ratio = np.concatenate([b.ratio for b in self.blocks]) if self.blocks else np.zeros(0)
        self.max_rel = np.concatenate([b.max_rel for b in self.blocks]) if self.blocks else np.zeros(0)
        self.exact = not (np.isnan(self.ratio).any() or np.isnan(self.max_rel).any())  # NumPy agrees with max()
        self._errors: list[TensorError] | None = None
        self._name_ids: tuple[dict[str, int], np.ndarray] | None = None

    @classmethod
    def of(cls, errors: list[TensorError]) -> ErrorTable:
        table = cls([ErrorColumns.of(errors)])
        table._errors = list(errors)
        return table

    def __reduce_ex__(self, protocol):
        """Pickled (a worker process sends its results, compare/workers/) as one array per column over all rows
        and each run of blocks with the same names and shapes once, not as a run's hundreds of small blocks; rebuilt
        into the same blocks. Tables holding TensorError objects pickle as they are."""
        blocks = self.blocks
        if not blocks or any(b.objects is not None for b in blocks) or any(
                getattr(b, f).dtype != np.float64 for b in blocks for f in _FIELDS):
            return super().__reduce_ex__(protocol)
        packed = {f: np.concatenate([getattr(b, f) for b in blocks]) for f in _FIELDS}
        offsets = np.fromiter(itertools.chain.from_iterable(b.offset for b in blocks), dtype=np.int64)
        return _unpack, ([b.step for b in blocks], [len(b) for b in blocks], packed, offsets,
                         *_repeats([b.names for b in blocks]), *_repeats([b.shapes for b in blocks]))

    def __len__(self) -> int:
        return len(self.ratio)

    def row(self, r: int) -> TensorError:
        block = int(self.block_of[r])
        return self.blocks[block].row(r - int(self.block_start[block]))

    def errors(self) -> list[TensorError]:
        """Every row as a TensorError (made once, on first use)."""
        if self._errors is None:
            self._errors = [e for block in self.blocks for e in block.rows()]
        return self._errors

    @property
    def passed(self) -> bool:
        return bool(np.all(self.ratio <= 1.0))

    @property
    def first_mismatch(self) -> TensorError | None:
        failing = np.flatnonzero(~(self.ratio <= 1.0))
        return self.row(int(failing[0])) if len(failing) else None

    @property
    def worst(self) -> TensorError | None:
        if not len(self):
            return None
        if not self.exact:
            return max(self.errors(), key=lambda e: e.ratio)
        return self.row(int(np.argmax(self.ratio)))

    def names(self) -> tuple[list[str], np.ndarray]:
        """The distinct tensor names in order of first appearance, and each row's index into them."""
        if self._name_ids is None:
            ids: dict[str, int] = {}
            self._name_ids = (ids, np.array([ids.setdefault(name, len(ids)) for block in self.blocks
                                             for name in block.names], dtype=np.int64))
        ids, rows = self._name_ids
        return list(ids), rows

    def worst_rel(self, *prefixes: str) -> float:
        """Largest max_rel among rows whose tensor name starts with one of `prefixes` (0 when none)."""
        if not self.exact:
            return max((e.max_rel for e in self.errors() if e.name.startswith(prefixes)), default=0.0)
        names, rows = self.names()
        chosen = np.array([name.startswith(prefixes) for name in names], dtype=bool)[rows] if names else rows
        return float(self.max_rel[chosen].max()) if chosen.any() else 0.0

    def worst_per_tensor(self) -> dict[str, TensorError]:
        """Per tensor name (in order of first appearance): its first row of largest ratio."""
        if not self.exact:
            per_tensor: dict[str, TensorError] = {}
            for error in self.errors():
                if error.name not in per_tensor or error.ratio > per_tensor[error.name].ratio:
                    per_tensor[error.name] = error
            return per_tensor
        names, rows = self.names()
        order = np.lexsort((np.arange(len(rows)), -self.ratio, rows))  # by name, ratio down, row up
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows[order[1:]] != rows[order[:-1]]
        best = dict(zip(rows[order[first]].tolist(), order[first].tolist(), strict=True))
        return {name: self.row(best[i]) for i, name in enumerate(names)}


def _repeats(lists: list) -> tuple[list, list[int]]:
    """(the lists, each run of equal consecutive ones once; per list, the index of its run's)."""
    values: list = []
    ids = []
    for value in lists:
        if not values or value != values[-1]:
            values.append(value)
        ids.append(len(values) - 1)
    return values, ids


def _unpack(steps, lengths, packed, offsets, names, name_ids, shapes, shape_ids) -> ErrorTable:
    """The ErrorTable `ErrorTable.__reduce_ex__` packed."""
    blocks, start = [], 0
    offset_list = offsets.tolist()
    for step, length, n, k in zip(steps, lengths, name_ids, shape_ids, strict=True):
        rows = slice(start, start + length)
        blocks.append(ErrorColumns(step, list(names[n]), list(shapes[k]), offset=offset_list[rows],
                                   **{f: packed[f][rows] for f in _FIELDS}))
        start += length
    return ErrorTable(blocks)
