"""One rank of `python -m compare ddp`: a torch_ref model under DistributedDataParallel (gloo), checked after
every step against manual's step on the whole batch.

Why DDP equals the full-batch step. The batch of B samples is cut into W equal shards of n = B/W, rank r
trains on shard r, and the loss is a mean: L = (1/B)·Σ_i ℓ_i. Rank r's backward gives ∇L_r with
L_r = (1/n)·Σ_{i in shard r} ℓ_i, and DDP averages the ranks' gradients (all-reduce, then /W), so every rank
holds (1/W)·Σ_r ∇L_r = (1/(W·n))·Σ_i ∇ℓ_i = ∇L: the gradient of the full batch. Every rank then takes the same
optimizer step from the same parameters (DDP broadcasts rank 0's at construction), so parameters and optimizer
state stay equal to a single process training on the whole batch. Unequal shards break the identity (a
sample's weight would be 1/(W·n_r) instead of 1/B), which is why the batch size must divide by W.

BatchNorm breaks the identity: ℓ_i then depends on its whole shard through the batch statistics.
- Plain BatchNorm1d under DDP normalises each shard with its own mean and variance, so the averaged gradient
  is (1/W)·Σ_r ∇L_r with per-shard statistics, not the full-batch gradient. The "per-shard" reference
  computes exactly that in manual: each shard through the model on its own (forward and backward), the
  accumulated gradients divided by W, one optimizer step. Running statistics: by default (forward_sync_buffers
  in torch 2.13, which deprecates broadcast_buffers; True either way) every forward of the DDP module first
  copies rank 0's buffers to all ranks, then each rank updates them from its own shard; after a step rank r
  holds update(rank 0's buffers of the previous step, shard r), so ranks differ until the next forward. The
  reference replays this, and each rank checks its own buffers.
- SyncBatchNorm (`torch.nn.SyncBatchNorm.convert_sync_batchnorm`) all-gathers the statistics, so it would
  equal the full-batch step (and every rank would hold the same running statistics), but torch 2.13 runs it
  on GPU modules only: DistributedDataParallel raises "SyncBatchNorm layers only work with GPU modules" for a
  CPU module, and SyncBatchNorm.forward refuses CPU input (torch/nn/modules/batchnorm.py). It is not checked
  here (tests/jobs/test_ddp.py checks that torch still refuses it).

float64 runs free from the first step to the last; float32 steps each start from the rank's torch state
(parameters, optimizer state), as in the main check (compare/engine/tolerances.py), so each step is checked on its own.
"""
from __future__ import annotations

import datetime
import os
import pickle
import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from compare.catalogue.batches import Batches
from compare.catalogue.case_types import Case
from compare.distributed.settings import LOOPBACK, OPTIMIZERS, Settings
from compare.engine.comparison import compare_arrays
from compare.engine.error_table import TensorError
from compare.engine.step_tensors import ModelTensors
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import Twin, build_twins, copy_torch_state_into_manual, manual_step, to_numpy


@dataclass
class Comparison:
    """One rank's run of one case against one manual reference, every step."""
    case: str
    dtype: str
    rank: int
    reference: str  # "full-batch" or "per-shard"
    expect_equal: bool  # False: the reference is one DDP must differ from (plain BatchNorm vs full batch)
    errors: list[TensorError]

    @property
    def equal(self) -> bool:
        return all(e.passed for e in self.errors)

    @property
    def passed(self) -> bool:
        return self.equal == self.expect_equal

    @property
    def worst(self) -> TensorError:
        return max(self.errors, key=lambda e: e.ratio)

    def worst_rel(self, prefix: str) -> float | None:
        """Largest relative error among the tensors whose names start with `prefix`; None if there are none."""
        return max((e.max_rel for e in self.errors if e.name.startswith(prefix)), default=None)


def case_spec(optimizer: str, batch_norm: str, settings: Settings) -> Case:
    model = ("MLP", {"in_features": 4, "hidden": [8, 8], "out_features": 3, "batch_norm": batch_norm != "none"})
    return Case(f"mlp8-8{'_bn' if batch_norm != 'none' else ''}-ce-{optimizer}", model, ("CrossEntropyLoss", {}),
                OPTIMIZERS[optimizer], Batches("classification", 4, 3, settings.batch_size), settings.steps)


def _buffers(model) -> dict[str, np.ndarray]:
    return {name: np.array(value, copy=True) for name, value in model.named_buffers()}


def per_shard_step(twin: Twin, x: np.ndarray, y: np.ndarray, world_size: int, rank: int) -> dict:
    """What plain BatchNorm under DDP computes, in manual: every shard forward and backward on its own,
    starting from the buffers the model holds (rank 0's, broadcast); gradients summed over the shards and
    divided by `world_size`; one optimizer step. The model is left holding shard `rank`'s buffers, for
    comparison; returns shard 0's, which DDP broadcasts at the next forward."""
    twin.optimizer.zero_grad()
    start, n = _buffers(twin.model), len(x) // world_size
    shard_buffers = []
    for r in range(world_size):
        twin.model.load_state_dict(start, strict=False)
        output = twin.model(x[r * n:(r + 1) * n])
        twin.loss_fn(output, y[r * n:(r + 1) * n])
        twin.model.backward(twin.loss_fn.backward())
        shard_buffers.append(_buffers(twin.model))
    for param in twin.model.parameters():
        param.grad = param.grad / world_size
    twin.optimizer.step()
    twin.model.load_state_dict(shard_buffers[rank], strict=False)
    return shard_buffers[0]


def run_case(spec: Case, batch_norm: str, dtype: str, rank: int, settings: Settings) -> list[Comparison]:
    """Train the torch twin under DDP on this rank's shard and, beside it, every manual reference on the whole
    batch; compare every parameter's averaged grad, every parameter and every buffer after each step."""
    if spec.data is None:
        raise ValueError(f"{spec.name}: a DDP case needs its batches (`data`)")
    torch_twin, _ = build_twins(spec, dtype, "cpu", settings.seed)
    ddp_model = DistributedDataParallel(torch_twin.model)  # buffers from rank 0 at every forward, the default
    references = {"full-batch": build_twins(spec, dtype, "cpu", settings.seed)[1]}
    if batch_norm == "plain":
        references["per-shard"] = build_twins(spec, dtype, "cpu", settings.seed)[1]
    rank0_buffers = _buffers(references["full-batch"].model)
    errors: dict[str, list[TensorError]] = {name: [] for name in references}
    tolerance = tolerance_for(dtype)
    n = settings.batch_size // settings.world_size
    # strict=False: the stream is endless, range(settings.steps) ends the run
    for step, (x, y) in zip(range(settings.steps), spec.data.stream(settings.seed, dtype), strict=False):
        torch_twin.optimizer.zero_grad()
        output = ddp_model(torch.from_numpy(x[rank * n:(rank + 1) * n]))
        torch_twin.loss_fn(output, torch.from_numpy(y[rank * n:(rank + 1) * n])).backward()  # all-reduce: mean
        torch_twin.optimizer.step()
        for name, twin in references.items():
            if name == "full-batch":
                manual_step(twin, x, y)
            else:
                twin.model.load_state_dict(rank0_buffers, strict=False)
                rank0_buffers = per_shard_step(twin, x, y, settings.world_size, rank)
            pairs = ModelTensors(torch_twin.model, twin.model).pairs(after_step=True)
            errors[name] += [compare_arrays(step, key, m, to_numpy(t), tolerance) for key, m, t in pairs]
            if dtype != "float64":
                copy_torch_state_into_manual(torch_twin, twin)
    return [Comparison(spec.name, dtype, rank, name, name == "per-shard" or batch_norm == "none", errors[name])
            for name in references]


def record_failure(rank: int, result_dir: str) -> None:
    """This rank's traceback and the moment it failed (CLOCK_MONOTONIC, one clock for every process of the machine)
    in result_dir/rank<r>.failed, for the launcher to name the rank that failed first."""
    with open(os.path.join(result_dir, f"rank{rank}.failed"), "w") as f:
        f.write(f"{time.monotonic_ns()}\n{traceback.format_exc()}")


def rank_main(rank: int, settings: Settings, result_dir: str) -> None:
    """The process of one rank (module level, so that the started process can import it): join the gloo group
    through the launcher's store on the loopback interface, run every case, write the comparisons to result_dir.
    A rank that raises records it before it destroys the group: before any peer can fail because it left."""
    torch.set_num_threads(1)
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # gloo's own connections on the loopback interface too
    timeout = datetime.timedelta(seconds=settings.timeout_s)
    try:
        store = dist.TCPStore(LOOPBACK, settings.port, settings.world_size, is_master=False, timeout=timeout)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=settings.world_size, timeout=timeout)
        if rank == settings.fail_rank:
            raise RuntimeError(f"injected failure in rank {rank} (--fail-rank {rank}, for tests)")
        comparisons = [comparison for dtype in settings.dtypes for optimizer in settings.optimizers
                       for batch_norm in settings.batch_norms
                       for comparison in run_case(case_spec(optimizer, batch_norm, settings), batch_norm, dtype,
                                                  rank, settings)]
        with open(os.path.join(result_dir, f"rank{rank}.pkl"), "wb") as f:
            pickle.dump(comparisons, f)
    except Exception:
        record_failure(rank, result_dir)
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
