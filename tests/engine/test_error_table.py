"""compare/engine/error_table.py answers as the Python loops over the list of TensorErrors it replaces (first of equal
maxima, NaN never replacing a maximum), on blocks of vectorised rows and rows decided one by one."""
import math
import pickle

import numpy as np
import pytest

from compare.engine.error_table import ErrorColumns, ErrorTable, TensorError

NAMES = ["output", "loss", "grad.w", "param.w", "state.w.momentum_buffer"]


def _table(ratios: list[list[float]], decided_at: int = 1) -> ErrorTable:
    blocks = []
    for step, ratio in enumerate(ratios):
        if step == decided_at:
            blocks.append(ErrorColumns.of([TensorError(step, "grad.b (missing on manual)", math.inf, math.inf,
                                                       math.inf, (), math.nan, math.nan)]))
        r = np.array(ratio, dtype=np.float64)
        blocks.append(ErrorColumns(step, NAMES, [(2, 3), (), (4,), (2, 2), (3,)], r * 1e-7, r / 10, r,
                                   [5, 0, 3, 2, 1], r + 1, r + 2, 1e-7 * np.ones(5), 10 * np.ones(5)))
    return ErrorTable(blocks)


def _loops(errors):
    per_tensor = {}
    for error in errors:
        if error.name not in per_tensor or error.ratio > per_tensor[error.name].ratio:
            per_tensor[error.name] = error
    return (all(e.passed for e in errors), next((e for e in errors if not e.passed), None),
            max(errors, key=lambda e: e.ratio, default=None),
            [max((e.max_rel for e in errors if e.name.startswith(p)), default=0.0) for p in (("grad.",), ("x",))],
            per_tensor)


@pytest.mark.parametrize("ratios, decided_at", [
    ([[0.1, 0.5, 0.5, 0.2, 0.0], [0.5, 0.1, 0.3, 0.5, 0.5], [0.2, 0.2, 0.5, 0.1, 0.4]], None),  # ties: the first
    ([[0.1, 0.5, 0.5, 0.2, 0.0], [0.5, 1.5, 0.3, 3.0, 0.5], [0.2, 0.2, 3.0, 0.1, 0.4]], None),
    ([[0.1, 0.5, 0.5, 0.2, 0.0], [0.5, 1.5, 0.3, 3.0, 0.5]], 1),
    ([[0.1, math.nan, 0.5, 0.2, 0.0], [0.5, 0.1, math.nan, 3.0, 0.5]], None),  # NaN: the loops' own semantics
    ([[math.nan, 0.5, 0.5, 0.2, 0.0], [0.5, 0.1, 0.3, 0.5, math.inf]], None),
])
def test_table_answers_as_the_loops_over_its_list(ratios, decided_at):
    table = _table(ratios, decided_at)
    errors = table.errors()
    assert len(errors) == len(table) == 5 * len(ratios) + (decided_at is not None)
    assert [e.step for e in errors] == sorted(e.step for e in errors)
    passed, first, worst, rel, per_tensor = _loops(errors)
    assert table.passed == passed
    assert _row(table.first_mismatch) == _row(first) and _row(table.worst) == _row(worst)
    assert [table.worst_rel(*p) for p in (("grad.",), ("x",))] == rel
    assert {name: _row(e) for name, e in table.worst_per_tensor().items()} == {
        name: _row(e) for name, e in per_tensor.items()} and list(table.worst_per_tensor()) == list(per_tensor)


def _row(error):
    """Which row: its step and tensor (NaN fields make two equal TensorErrors compare unequal)."""
    return None if error is None else (error.step, error.name)


def test_a_row_is_the_tensor_error_it_stands_for():
    table = _table([[0.1, 0.5, 0.5, 0.2, 0.0]], decided_at=None)
    output = table.errors()[0]
    assert output == TensorError(0, "output", 1e-8, 0.01, 0.1, (1, 2), 1.1, 2.1, 1e-7, 10.0)
    assert table.row(0) == output and type(output.index[0]) is int and type(output.max_abs) is float


def test_an_empty_table():
    table = ErrorTable([])
    assert table.passed and table.worst is None and table.first_mismatch is None and table.worst_rel("grad.") == 0.0
    assert table.errors() == [] and table.worst_per_tensor() == {}


@pytest.mark.parametrize("decided_at", [None, 1], ids=["columns", "with-objects"])
def test_a_pickled_table_loads_as_the_same_rows(decided_at):
    """A worker process sends its tables pickled (compare/workers/): columns packed over all rows, rebuilt into the same
    blocks, names, shapes and values; a table holding TensorError objects pickles as it is."""
    ratios = [[0.1, 0.5, 0.5, 0.2, 0.0], [0.5, 1.5, 0.3, 3.0, 0.5], [0.2, 0.2, 3.0, math.nan, 0.4]]
    table = _table(ratios, decided_at if decided_at is not None else -1)
    table.blocks[-1].names = NAMES[::-1]  # a block of other names (eval steps), each run of them kept
    for i, block in enumerate(b for b in table.blocks if b.objects is None):  # each step's worst elsewhere
        block.offset = [(5 - i) % 6, 0, (3 - i) % 4, (2 + i) % 4, (1 + i) % 3]
    loaded = pickle.loads(pickle.dumps(table))
    assert [(b.step, b.names, b.shapes, b.offset) for b in loaded.blocks] == \
           [(b.step, b.names, b.shapes, b.offset) for b in table.blocks]
    assert [repr(e) for e in loaded.errors()] == [repr(e) for e in table.errors()]  # every field (NaN != NaN)
    assert repr(_loops(loaded.errors())) == repr(_loops(table.errors()))
    packed = pickle.dumps(table)
    assert (b"_unpack" in packed) == (decided_at is None)
