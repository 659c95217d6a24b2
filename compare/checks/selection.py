"""Which case runs `python -m compare` makes: the cases of the three catalogues (registered ones included) as
(kind, case), and the runs, one per case, dtype and device, in report order. compare/checks/main_job.py checks them.

Nothing here imports torch, so that `python -m compare --list` and `--help` start in a fraction of the time
(0.3 s against 1.6 s of CPU here).

A run is named by (kind, case name, dtype, device), so a worker process finds the same case in its own import of
the catalogues (compare/workers/); `find` resolves it.
"""
from __future__ import annotations

from dataclasses import dataclass

from compare.catalogue import extreme_cases, module_cases, training_cases
from compare.catalogue.case_types import DTYPES, Case, ModuleCase
from compare.engine.kernels import torch_fuses_multiply_add

KINDS = ("training", "module", "extreme")


@dataclass(frozen=True)
class OptimizerCase:
    """An optimizer fed gradients drawn by `gradient` (extreme_cases.EXTREME_OPTIMIZER_CASES)."""

    name: str
    optimizer: str
    kwargs: dict
    gradient: object

    @property
    def dtypes(self) -> tuple:
        return DTYPES if torch_fuses_multiply_add() else ("float64",)


@dataclass(frozen=True)
class TinyVarianceCase:
    """A BatchNorm case whose channel variance is (almost) 0 (extreme_cases.TINY_VARIANCE_CASES)."""

    case: ModuleCase

    @property
    def name(self) -> str:
        return self.case.name


AnyCase = Case | ModuleCase | OptimizerCase | TinyVarianceCase


@dataclass(frozen=True)
class Run:
    kind: str
    case: AnyCase
    dtype: str
    device: str

    @property
    def name(self) -> str:
        return self.case.name


def _optimizer_case(name, kwargs, gradient) -> OptimizerCase:
    label = "-".join(f"{k}={v}" for k, v in kwargs.items())
    return OptimizerCase(f"{name}-{label}-{gradient.__name__}" if label else f"{name}-{gradient.__name__}", name,
                         kwargs, gradient)


def catalogue(only: str | None = None, kinds=KINDS) -> list[tuple[str, AnyCase]]:
    """(kind, case) for every case of the `kinds` catalogues whose name contains `only`, registered ones included."""
    extremes: list[AnyCase] = [*extreme_cases.EXTREME_MODULE_CASES,
                               *map(TinyVarianceCase, extreme_cases.TINY_VARIANCE_CASES),
                               *(_optimizer_case(*entry) for entry in extreme_cases.EXTREME_OPTIMIZER_CASES),
                               extreme_cases.DIVERGENT_CASE]
    cases: list[tuple[str, AnyCase]] = [*(("training", c) for c in training_cases.select()),
                                        *(("module", c) for c in module_cases.select()),
                                        *(("extreme", c) for c in extremes)]
    return [(kind, case) for kind, case in cases if kind in kinds and (only is None or only in case.name)]


def dtypes_of(case) -> tuple:
    return getattr(case, "dtypes", DTYPES)


def plan(only: str | None, dtype: str | None, devices: list[str], kinds=KINDS) -> list[Run]:
    """The runs, in report order. Module and extreme cases run on the CPU (the module checks are CPU only)."""
    return [Run(kind, case, d, device) for kind, case in catalogue(only, kinds)
            for d in ([dtype] if dtype else dtypes_of(case)) if dtype is None or dtype in dtypes_of(case)
            for device in (devices if isinstance(case, Case) else ["cpu"])]


def find(kind: str, name: str) -> AnyCase:
    """The case of `kind` named `name` in this process's catalogues; KeyError if there is none."""
    for found_kind, case in catalogue(name):
        if found_kind == kind and case.name == name:
            return case
    raise KeyError(f"no {kind} case named {name!r}")
