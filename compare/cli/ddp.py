"""`python -m compare ddp`: torch_ref models trained under torch.nn.parallel.DistributedDataParallel (gloo
backend, CPU), each rank checked after every step against manual's step on the whole batch.

The ranks are processes on this machine (torch.multiprocessing, forked from a server that has imported torch
once; compare/distributed/launcher.py), joined through a TCPStore that this process serves on 127.0.0.1 only
(gloo's own connections use the loopback interface too); --port picks its port, by default a free one. Each rank
trains on its shard of every batch (the batch size must divide by the world size) and compares its averaged
gradients, parameters and buffers with manual's reference; why DDP equals the full-batch step, and what plain
BatchNorm and SyncBatchNorm do instead: compare/distributed/rank.py.

Exit status: 0 every comparison as expected, 1 a mismatch, 2 a bad argument or a port in use (one line, as every
command's refusals), 3 a rank failed (the first rank that failed, with its error; every rank process is ended and
reaped before the command returns) or the store did not come up within --timeout.
"""
from __future__ import annotations

import argparse
import errno
import sys
from typing import TYPE_CHECKING

from compare.catalogue.case_types import DTYPES
from compare.cli import arguments, render
from compare.cli.arguments import UsageError
from compare.distributed.settings import BATCH_NORMS, LOOPBACK, OPTIMIZERS, Settings

if TYPE_CHECKING:
    from compare.distributed.rank import Comparison

HEADER = ["case", "dtype", "reference", "expect", "rank", "grad err", "param err", "buffer err", "tol used",
          "result"]


def add_arguments(parser) -> None:
    parser.add_argument("--world-size", type=int, default=2, help="number of ranks, >= 2, dividing the batch size "
                                                                  "(default 2)")
    parser.add_argument("--steps", type=int, default=5, help="training steps per case (default 5)")
    parser.add_argument("--dtype", choices=DTYPES, help="one dtype (default: both)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--batch-size", type=int, default=16, help="samples per step over all ranks (default 16)")
    parser.add_argument("--optimizer", choices=[*OPTIMIZERS, "both"], default="both",
                        help="SGD with momentum, Adam, or both (default)")
    parser.add_argument("--batch-norm", choices=[*BATCH_NORMS, "all"], default="all",
                        help="the MLP without BatchNorm, with plain BatchNorm1d, or both (default). SyncBatchNorm "
                             "needs GPU modules in torch (see compare/distributed/rank.py)")
    parser.add_argument("--port", type=arguments.int_in(0, 65535, name="port"), default=0,
                        help="port on 127.0.0.1 for the ranks' rendezvous (default: a free one)")
    parser.add_argument("--timeout", type=arguments.timeout, default=60.0,
                        help="seconds a rank waits for the others (rendezvous, collectives) before it fails")
    parser.add_argument("--fail-rank", type=int, help=argparse.SUPPRESS)  # tests: this rank raises


def settings_from_args(args) -> Settings:
    """Settings for the ranks; ValueError names the argument that is out of range."""
    if args.world_size < 2:
        raise ValueError(f"--world-size must be at least 2, got {args.world_size}")
    if args.batch_size <= 0 or args.batch_size % args.world_size:
        raise ValueError(f"--batch-size {args.batch_size} does not split into {args.world_size} equal shards: DDP's "
                         "averaged gradient equals the full-batch gradient only for equal shards")
    if args.steps <= 0:
        raise ValueError(f"--steps must be positive, got {args.steps}")
    if args.fail_rank is not None and not 0 <= args.fail_rank < args.world_size:
        raise ValueError(f"--fail-rank must name a rank in [0, {args.world_size - 1}], got {args.fail_rank}")
    return Settings(args.world_size, args.port, (args.dtype,) if args.dtype else DTYPES,
                    tuple(OPTIMIZERS) if args.optimizer == "both" else (args.optimizer,),
                    BATCH_NORMS if args.batch_norm == "all" else (args.batch_norm,), args.steps, args.seed,
                    args.batch_size, args.timeout, args.fail_rank)


def _error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _ratio(value: float) -> str:
    return f"{value:.0%}" if value < 100 else f"{value:.0e} x"


def table(comparisons: list[Comparison]) -> str:
    """One row per case, reference and rank (ranks side by side), then each failure, then the legend."""
    comparisons = sorted(comparisons, key=lambda c: (c.dtype, c.case, c.reference, c.rank))
    rows = [[c.case, c.dtype, c.reference, "equal" if c.expect_equal else "differ", str(c.rank),
             _error(c.worst_rel("grad.")), _error(c.worst_rel("param.")), _error(c.worst_rel("buffer.")),
             _ratio(c.worst.ratio), "PASS" if c.passed else "FAIL"]
            for c in comparisons]
    lines = [render.text(HEADER, rows)]
    for c in comparisons:
        if not c.passed:
            what = f"differs: {c.worst.describe()}" if c.expect_equal else "equals the reference it must differ from"
            lines.append(f"FAIL {c.case} [{c.dtype}] rank {c.rank} vs {c.reference}: {what}")
    passed = sum(c.passed for c in comparisons)
    lines.append(f"{passed} of {len(comparisons)} rank comparisons as expected. err = max|manual - rank| / max|rank| "
                 "per tensor, worst over steps; tol used = worst |manual - rank| / (rtol|rank| + atol) (above 100%: "
                 "differs). full-batch: manual's step on the whole batch; per-shard: each shard through manual's "
                 "BatchNorm on its own, gradients averaged (what plain BatchNorm under DDP computes)")
    return "\n".join(lines)


def main(args) -> int:
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    from compare.distributed.launcher import RankFailed, run  # torch: here, once the arguments are accepted

    try:
        comparisons = run(settings)
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
        raise UsageError(f"port {args.port} on {LOOPBACK} {reason}; pick another with --port, or leave --port out "
                         "to take a free one") from None
    except RankFailed as error:
        print(f"compare ddp: {error}", file=sys.stderr)
        return 3
    print(table(comparisons))
    return 0 if all(c.passed for c in comparisons) else 1
