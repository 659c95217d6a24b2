"""What a step hands to the user is its own: every model of the catalogue returns fresh arrays from forward and
backward and stores fresh `.grad`s, so results kept from one step are neither shared with nor changed by the
next (manual's speed-ups may reuse buffers only for temporaries that never leave a module)."""
import numpy as np
import pytest

from compare.catalogue import training_cases
from compare.engine.twins import build_twins

CASES = [pytest.param(case, id=case.name) for case in {c.model[0]: c for c in training_cases.CATALOGUE}.values()]


def step(twin, x, y) -> dict:
    """One training step; what the user can keep from it: output, loss, dL/d(input) and every .grad."""
    twin.optimizer.zero_grad()
    output = twin.model(x)
    loss = twin.loss_fn(output, y)
    grad_input = twin.model.backward(twin.loss_fn.backward())
    kept = {"output": output, "loss": loss, "grad_input": grad_input}
    kept.update({f"grad {name}": p.grad for name, p in twin.model.named_parameters()})
    twin.optimizer_step(loss)
    return {name: value for name, value in kept.items() if isinstance(value, np.ndarray)}


@pytest.mark.parametrize("case", CASES)
def test_results_of_two_steps_never_alias(case):
    _, twin = build_twins(case, "float32", "cpu", seed=0)
    batches = case.data.stream(0, "float32")
    first_batch, second_batch = next(batches), next(batches)
    first = step(twin, *first_batch)
    copies = {name: value.copy() for name, value in first.items()}
    second = step(twin, *second_batch)
    assert first.keys() == second.keys() and "output" in first
    for name, value in first.items():
        for other_name, other in second.items():
            assert not np.shares_memory(value, other), f"{case.name}: {name} of step 1 shares memory with " \
                                                       f"{other_name} of step 2"
        np.testing.assert_array_equal(value, copies[name], err_msg=f"{case.name}: step 2 changed {name} of step 1")
