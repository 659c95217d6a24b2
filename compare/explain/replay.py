"""Replay a training case to one step, exactly as the main job runs it (compare/engine/step_loop.py: the same
twins, batches, Dropout masks and, in float32, the resync from torch's state before each step), and record that
step module by module on both sides (records.py) and, in float32, on torch's float64 reference from the same
state, whose spread sets the error model's bound (compare/engine/tolerances.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from compare.engine.masks import share_dropout_masks
from compare.engine.reference import Reference, upcast
from compare.engine.step_tensors import ModelTensors, step_pairs
from compare.engine.tolerances import error_model_for, tolerance_for
from compare.engine.twins import Twin, build_twins, copy_torch_state_into_manual, manual_step, torch_step
from compare.explain.records import StepRecord, read_param_grads, record_manual, record_torch


@dataclass
class ReplayedStep:
    step: int
    dtype: str
    manual: StepRecord
    torch: StepRecord
    reference: StepRecord | None  # float32: torch in float64 from the same state; float64: None
    pairs: list  # the step's own (name, manual, torch): output, loss, grads, parameters, buffers, optimizer state
    reference_values: dict | None  # float32: name -> the float64 reference's value of each pair
    manual_twin: Twin
    torch_twin: Twin
    training: bool = True  # False: an evaluation step (eval mode, no optimizer step)
    # float32, a training step: name -> torch's gradient error carried through the reference's optimizer step, per
    # element of each parameter and state tensor (compare/engine/reference.py)
    propagated: dict | None = None
    start_magnitudes: dict | None = None  # the same steps: name -> its largest |value| before the optimizer step
    # the same steps: name -> torch's float32 error on the batch re-ordered (the loss, the gradients: clipped as
    # the step compares them, and as the backward left them, as the modules' records hold them)
    samples: dict | None = None
    unclipped_samples: dict | None = None


def _torch_step(twin: Twin, x: np.ndarray, y: np.ndarray, device: str, record: StepRecord, update: bool):
    """`torch_step`, reading every module's parameter gradients between the backward and the optimizer step
    (none in an evaluation step: `update` False)."""
    x_t = torch.from_numpy(x).to(device)
    x_t.requires_grad_(x_t.is_floating_point())
    twin.optimizer.zero_grad()
    output = twin.model(x_t)
    loss = twin.loss_fn(output, torch.from_numpy(y).to(device))
    loss.backward()
    read_param_grads(record, twin.model)
    if update:
        twin.optimizer_step(loss)
    return output, loss, x_t.grad


def _manual_step(twin: Twin, x: np.ndarray, y: np.ndarray, record: StepRecord, update: bool):
    twin.optimizer.zero_grad()
    output = twin.model(x)
    loss = twin.loss_fn(output, y)
    grad_input = twin.model.backward(twin.loss_fn.backward())
    read_param_grads(record, twin.model)
    if update:
        twin.optimizer_step(loss)
    return output, loss, grad_input


def replay_step(case, dtype: str, step: int, device: str = "cpu", seed: int = 0,
                training_steps: int | None = None) -> ReplayedStep:
    """Run `step` steps of `case` as the main job does (run_case: `training_steps`, by default the case's, then
    its evaluation steps), then record step `step` (counted from 0)."""
    torch_twin, manual_twin = build_twins(case, dtype, device, seed)
    return replay_twins(torch_twin, manual_twin, case.data.stream(seed, dtype), step, dtype, device,
                        training_steps=training_steps or case.steps)


def replay_twins(torch_twin: Twin, manual_twin: Twin, batches, step: int, dtype: str, device: str = "cpu",
                 seed: int | None = None, training_steps: int | None = None) -> ReplayedStep:
    """`replay_step` for twins in their initial state (manual holding torch's weights) and an iterator of (x, y)
    batches, as run_twins trains them (compare.testing's assert_model_trains_like: `seed` seeds torch first).
    Steps from `training_steps` on are evaluation steps (eval mode, no optimizer step: they change no state,
    so the replay only skips their batches)."""
    training = training_steps is None or step < training_steps
    share_dropout_masks(torch_twin.model, manual_twin.model)
    if seed is not None:
        torch.manual_seed(seed)
    torch_twin.model.to(device)
    model = error_model_for(dtype)
    reference = Reference(torch_twin) if model is not None else None
    resync = tolerance_for(dtype).resync
    for done in range(step):
        x, y = next(batches)
        if training_steps is not None and done >= training_steps:
            continue
        torch_step(torch_twin, x, y, device, input_grad=True)
        manual_step(manual_twin, x, y)
        if resync:
            copy_torch_state_into_manual(torch_twin, manual_twin)
    x, y = next(batches)
    if not training:
        torch_twin.model.eval()
        manual_twin.model.eval()
        if reference is not None:
            reference.train(False)
    if reference is not None:
        reference.sync()  # before torch's step: its state, and the Dropout masks that step draws
    with record_torch(torch_twin.model, torch_twin.loss_fn) as t_record:
        t_outputs = _torch_step(torch_twin, x, y, device, t_record, training)
    with record_manual(manual_twin.model, manual_twin.loss_fn) as m_record:
        m_outputs = _manual_step(manual_twin, x, y, m_record, training)
    names = [name for name, _ in torch_twin.model.named_parameters()]
    pairs = step_pairs((m_outputs, t_outputs), ModelTensors(torch_twin.model, manual_twin.model), torch_twin,
                       manual_twin, names, after_step=training)
    r_record = reference_values = propagated = start_magnitudes = samples = unclipped_samples = None
    if reference is not None and model is not None:
        with record_torch(reference.twin.model, reference.twin.loss_fn) as r_record:
            r_outputs = _torch_step(reference.twin, upcast(x), upcast(y), device, r_record, training)
        wanted = [name for name, _, _ in pairs]
        values = reference.values(r_outputs, wanted, names, torch_twin, after_step=training)
        # copies: `propagated` runs the reference's step again, from where it started
        reference_values = {name: value.detach().clone() if isinstance(value, torch.Tensor) else value
                            for name, value in zip(wanted, values, strict=True)}
        start_magnitudes = dict(zip(wanted, reference.start_magnitudes(wanted), strict=True))
        propagated = dict(zip(wanted, reference.propagated(wanted), strict=True))
        count = model.least_samples - 1
        samples = unclipped_samples = dict(zip(wanted, reference.rounding_samples(x, y, device, wanted, count),
                                               strict=True))
        if torch_twin.clip is not None:
            unclipped_samples = dict(zip(wanted, reference.rounding_samples(x, y, device, wanted, count, False),
                                         strict=True))
    return ReplayedStep(step, dtype, m_record, t_record, r_record, pairs, reference_values, manual_twin, torch_twin,
                        training, propagated, start_magnitudes, samples, unclipped_samples)
