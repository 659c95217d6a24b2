"""Interchange: train 20 steps on one side, move model, optimizer and scheduler state to the other, then run both
20 more steps; every output, gradient, parameter, optimizer-state tensor and lr must agree at every step (update-rule
tolerances, free-running in both dtypes)."""
import pytest
import torch

from compare.catalogue import training_cases
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import update_rule_tolerance_for
from compare.engine.twins import build_twins, copy_manual_state_into_torch, copy_torch_state_into_manual

STEPS = 20


def train_alone(twin, batches, steps: int, is_torch: bool) -> None:
    for _ in range(steps):
        x, y = next(batches)
        twin.optimizer.zero_grad()
        if is_torch:
            loss = twin.loss_fn(twin.model(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()
        else:
            loss = twin.loss_fn(twin.model(x), y)
            twin.model.backward(twin.loss_fn.backward())
        twin.optimizer_step(loss)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("direction", ["manual_to_torch", "torch_to_manual"])
@pytest.mark.parametrize("case", training_cases.OPTIMIZER_CASES, ids=lambda c: c.name)
def test_state_moves_mid_training_and_both_continue_identically(case, direction, dtype):
    torch_twin, manual_twin = build_twins(case, dtype, "cpu", seed=0)
    batches = case.data.stream(0, dtype)
    if direction == "manual_to_torch":
        train_alone(manual_twin, batches, STEPS, is_torch=False)
        copy_manual_state_into_torch(manual_twin, torch_twin)
    else:
        train_alone(torch_twin, batches, STEPS, is_torch=True)
        copy_torch_state_into_manual(torch_twin, manual_twin)
    for side in (torch_twin, manual_twin):  # both optimizers are mid-training now, not fresh
        moved = side.optimizer.state_dict()["state"][0]
        assert "momentum_buffer" in moved or float(moved["step"]) == STEPS
    result = run_twins(torch_twin, manual_twin, batches, STEPS, dtype, "cpu", case.name,
                       tolerance=update_rule_tolerance_for(dtype))
    assert result.passed, (f"{case.name} [{dtype}, {direction}]: first {result.first_mismatch.describe()}; "
                           f"worst {result.worst.describe()}")
