"""What every subcommand's command line shares: the parser, the `type=` validators, and UsageError.

A command line that cannot mean a real run (a count of zero, a fraction outside (0, 1), a file that cannot be
written, a device that is not there, a filter that selects nothing) is refused before any work starts, with one
line on stderr and exit status 2 (`compare.__main__.main`). The validators are argparse `type=` functions, so
argparse names the option in the message: "argument --folds: expected an integer of at least 2, got '1'".
"""
from __future__ import annotations

import argparse
import difflib
import os
from pathlib import Path

MAX_THREADS = 4 * (os.cpu_count() or 1)  # more threads than this only oversubscribe (and torch crashes on huge counts)
MAX_SEED = 2 ** 64 - 1  # torch.manual_seed's limit; NumPy's generators take any non-negative integer


class UsageError(Exception):
    """A command line that cannot mean a real run. `prog`: the command it belongs to ("python -m compare cv")."""

    def __init__(self, message: str, prog: str | None = None):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised as UsageError (one line, exit 2) rather than printed with the
    usage and `sys.exit(2)`; subparsers made from it inherit this."""

    def error(self, message: str):
        raise UsageError(message, self.prog)


def nearest(word: str, choices, prefix: str = "") -> str:
    """' (did you mean X?)' for the choice closest to `word`, or '' when none is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{match[0]}?)" if match else ""


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def int_in(low: int, high: int | None = None, name: str = "integer"):
    """A `type=` for an integer in [low, high] (no upper bound when high is None)."""
    def parse(text: str) -> int:
        value = _integer(text)
        if value < low or high is not None and value > high:
            bound = f"of at least {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


positive_int = int_in(1, name="positive_int")
seed = int_in(0, MAX_SEED, name="seed")


def threads(allow_default: bool):
    """A `type=` for a thread count in [1, 4·cpus]; with `allow_default`, 0 too (meaning: keep torch's default)."""
    return int_in(0 if allow_default else 1, MAX_THREADS, name="threads")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


MAX_TIMEOUT = 24 * 3600  # seconds: a longer wait only hides a hang (Python's timedelta overflows above 8.6e13)


MIN_TIMEOUT = 0.001  # seconds: torch's stores count milliseconds, so a shorter wait is none (0 ms)


def timeout(text: str) -> float:
    """Seconds to wait: at least MIN_TIMEOUT, at most MAX_TIMEOUT."""
    value = _float(text)
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"expected seconds in [{MIN_TIMEOUT}, {MAX_TIMEOUT}], got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share strictly between 0 and 1 (a test share: both parts keep rows)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1, got {text!r}")
    return value


def _writable_directory(directory: Path, text: str) -> None:
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r}: {str(directory)!r} {what}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: directory {str(directory)!r} is not writable")


def output_file(text: str) -> str:
    """A file path that can be written when the run ends: not empty, not a directory, in a writable directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; expected a file path")
    _writable_directory(path.parent, text)
    return text


def output_dir(text: str) -> str:
    """A directory that exists or can be created: no part of it is a file, and its nearest existing ancestor
    is writable."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory path, got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    _writable_directory(existing, text)
    return text


def name(what: str):
    """A `type=` for a name or a part of one: not empty (an unset shell variable), which the command would take for
    its default (`--loss ''`) or which every name contains (`--only ''`)."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected {what}, got an empty string")
        return text
    parse.__name__ = "name"
    return parse


def module_name(text: str) -> str:
    """A dotted Python module name (`--plugin my_package.cases`), not a path."""
    if not text or not all(part.isidentifier() for part in text.split(".")):
        raise argparse.ArgumentTypeError(f"expected a dotted module name such as my_package.cases, got {text!r}")
    return text


def require_device(device: str | None) -> None:
    """Refuse `--device cuda` where torch sees no CUDA device."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available to torch")


EXTRAS = {"plot": "matplotlib", "sklearn": "scikit-learn"}  # optional extra -> the package it installs


def install_hint(extra: str) -> str:
    """How to install an optional extra, from a clone of the repository and from the published package."""
    return (f"the optional extra [{extra}]: python -m pip install -e \".[{extra}]\" in a clone of the repository, "
            f"or python -m pip install \"backprop-crosscheck[{extra}]\"")


def missing_extra(extra: str, needed_for: str) -> UsageError:
    """The refusal of a command that needs an extra's package that is not installed."""
    return UsageError(f"{needed_for} needs {EXTRAS[extra]}, {install_hint(extra)}")
