"""The figures of `python -m compare plots` (compare/cli/plots.py), one module each: `compute(quick)` runs both
backends, `draw(data)` makes the picture; common.py holds what they share."""
