"""Twin models must look the same inside: `manual.summary` and `torch_ref.summary` agree.

Structure (model name, rows: layer names, types, output shapes, parameter counts, trainable flags; totals;
parameter names, shapes, dtypes, whether a grad exists) must be exactly equal. The float64 statistics
(mean, std, min, max, grad norm) are computed by two implementations (NumPy, torch) whose summation order
differs, so they are compared with the tolerance of the parameters' dtype from compare/engine/tolerances.py.
"""
from __future__ import annotations

import math

import manual
import torch_ref
from compare.engine.tolerances import tolerance_for

STATISTICS = ("mean", "std", "min", "max", "grad_norm")


def summary_differences(manual_summary, torch_summary) -> list[str]:
    """Every way the two summaries differ, one line each (empty when they agree)."""
    problems = []
    for field in ("model", "input_shape", "total_params", "trainable_params"):
        if getattr(manual_summary, field) != getattr(torch_summary, field):
            problems.append(f"{field}: manual {getattr(manual_summary, field)!r} vs torch {getattr(torch_summary, field)!r}")
    manual_layers = [tuple(vars(row).values()) for row in manual_summary.layers]
    torch_layers = [tuple(vars(row).values()) for row in torch_summary.layers]
    if manual_layers != torch_layers:
        # the rows both have, pairwise (a difference in their number is reported just below)
        problems += [f"layer row {i}: manual {m} vs torch {t}" for i, (m, t) in
                     enumerate(zip(manual_layers, torch_layers, strict=False)) if m != t]
        if len(manual_layers) != len(torch_layers):
            problems.append(f"layer rows: manual has {len(manual_layers)}, torch {len(torch_layers)}")
    if len(manual_summary.parameters) != len(torch_summary.parameters):
        problems.append(f"parameters: manual lists {len(manual_summary.parameters)}, "
                        f"torch {len(torch_summary.parameters)}")
    # the parameters both list, pairwise (a difference in their number is reported just above)
    for m, t in zip(manual_summary.parameters, torch_summary.parameters, strict=False):
        if (m.name, m.shape, m.dtype) != (t.name, t.shape, t.dtype):
            problems.append(f"parameter: manual {(m.name, m.shape, m.dtype)} vs torch {(t.name, t.shape, t.dtype)}")
            continue
        tolerance = tolerance_for(m.dtype)
        for stat in STATISTICS:
            a, b = getattr(m, stat), getattr(t, stat)
            if (a is None) != (b is None):
                problems.append(f"{m.name}.{stat}: manual {a} vs torch {b} (a grad exists on one side only)")
            elif a is not None and not (a == b or (math.isnan(a) and math.isnan(b))
                                        or abs(a - b) <= tolerance.rtol * abs(b) + tolerance.atol):
                problems.append(f"{m.name}.{stat}: manual {a!r} vs torch {b!r}")
    return problems


def assert_same_summary(manual_model, torch_model, input_shape) -> None:
    """Raise AssertionError listing every difference between the twins' summaries for `input_shape`."""
    problems = summary_differences(manual.summary(manual_model, input_shape), torch_ref.summary(torch_model, input_shape))
    if problems:
        raise AssertionError(f"manual and torch summaries of {type(torch_model).__name__} differ:\n  "
                             + "\n  ".join(problems))
