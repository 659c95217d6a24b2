"""What the command line prints: the one table renderer (aligned text for the terminal, Markdown for report
files) and progress lines on stderr for long runs.

Every report of `python -m compare` (the check, bench, cv, train, ddp) prints its rows through it:
    text(header, rows)                      columns padded to their widest cell, a rule under the header
    text(header, rows, align="right", footer=[...])   numbers right-aligned; a rule above the footer rows
    line(cells, widths, "right"), rule(widths)        one row at a time, for tables printed as they grow
    markdown(header, rows)                  a GitHub table
    Progress().update(message)              a line on stderr, silent for the first seconds, then at most one
                                            per interval
    Finished(quiet)(message)                a line on stderr per finished piece of a long run (a bench size
                                            and backend, a kernel setting); silent with --quiet or when stderr
                                            is not a terminal
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence

SEPARATOR = "  "


def widths(rows: Sequence[Sequence[str]]) -> list[int]:
    """The width of each column: its widest cell."""
    return [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]


def line(cells: Sequence[str], column_widths: Sequence[int], align: str = "left") -> str:
    pad = str.ljust if align == "left" else str.rjust
    return SEPARATOR.join(pad(cell, width) for cell, width in zip(cells, column_widths, strict=True))


def rule(column_widths: Sequence[int]) -> str:
    return SEPARATOR.join("-" * width for width in column_widths)


def text(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "left",
         footer: Sequence[Sequence[str]] = ()) -> str:
    column_widths = widths([header, *rows, *footer])
    lines = [line(header, column_widths, align), rule(column_widths)]
    lines += [line(row, column_widths, align) for row in rows]
    if footer:
        lines += [rule(column_widths)] + [line(row, column_widths, align) for row in footer]
    return "\n".join(lines)


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


class Progress:
    def __init__(self, interval: float = 2.0, stream=None):
        self.interval, self.stream = interval, stream or sys.stderr
        self.start = self.last = time.perf_counter()

    def update(self, message: str) -> None:
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            print(f"  [{now - self.start:6.1f} s] {message}", file=self.stream, flush=True)


class Finished:
    """Progress of a long run, one line per finished piece, with the seconds since the run began."""

    def __init__(self, quiet: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.on = not quiet and self.stream.isatty()
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.on:
            print(f"  [{time.perf_counter() - self.start:6.1f} s] {message}", file=self.stream, flush=True)
