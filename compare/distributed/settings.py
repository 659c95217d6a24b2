"""What `python -m compare ddp` may run and what its ranks are told (compare/distributed/rank.py runs them): no
torch here, so that the command's options and their refusals need none (`ddp --help`: 0.2 s, not 1.2)."""
from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
OPTIMIZERS = {"sgd": ("SGD", {"lr": 0.1, "momentum": 0.9}), "adam": ("Adam", {"lr": 0.01})}
BATCH_NORMS = ("none", "plain")


@dataclass(frozen=True)
class Settings:
    """What every rank needs to know (pickled into each rank process)."""
    world_size: int
    port: int
    dtypes: tuple
    optimizers: tuple
    batch_norms: tuple
    steps: int
    seed: int
    batch_size: int
    timeout_s: float
    fail_rank: int | None = None  # tests only: this rank raises right after joining the group
