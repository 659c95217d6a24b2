"""manual.optim.lr_scheduler vs torch.optim.lr_scheduler: learning rates step for step, counters, state_dict,
resuming, the deprecated closed form, and the harness catching a wrong schedule."""
import math
import warnings

import numpy as np
import pytest
import torch

import manual.nn as mnn
import manual.optim
from compare.catalogue import training_cases
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import update_rule_tolerance_for
from compare.engine.twins import build_twins

SCHEDULERS = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.7}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30]}),  # a repeated milestone decays twice
    ("MultiStepLR", {"milestones": [0, 4], "gamma": 0.5}),  # milestone 0 decays in the constructor's step
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10}),  # 60 steps: three rises after T_max, through the zero denominator
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 1e-3}),
    ("ReduceLROnPlateau", {}),
    ("ReduceLROnPlateau", {"mode": "max", "factor": 0.5, "patience": 2, "threshold": 0.05, "cooldown": 3}),
    ("ReduceLROnPlateau", {"patience": 0, "threshold_mode": "abs", "threshold": 0.1, "min_lr": [0.02, 0.0]}),
]
STEPS = 60
LRS = (0.1, 0.03)  # two param groups


def metric(step: int) -> float:
    """Jumps, slow improvements and (after step 30) a noisy plateau, so every branch of ReduceLROnPlateau is taken."""
    return 1.0 / (1 + min(step, 30) // 6) + 0.05 * math.sin(step)


def pair(name, kwargs, last_epoch=None):
    """(manual, torch) schedulers over SGD optimizers with two param groups."""
    def build(optim, lr_scheduler, parameter):
        optimizer = optim.SGD([{"params": [parameter(0)], "lr": LRS[0]}, {"params": [parameter(1)], "lr": LRS[1]}])
        extra = {} if last_epoch is None else {"last_epoch": last_epoch}
        return getattr(lr_scheduler, name)(optimizer, **kwargs, **extra)
    return (build(manual.optim, manual.optim.lr_scheduler, lambda i: mnn.Parameter(np.zeros(2))),
            build(torch.optim, torch.optim.lr_scheduler, lambda i: torch.nn.Parameter(torch.zeros(2))))


def step(scheduler, name, t):
    if name == "ReduceLROnPlateau":
        scheduler.step(metric(t))
    else:
        scheduler.optimizer.step()  # torch warns unless optimizer.step() came first
        scheduler.step()


def lrs(scheduler):
    return [group["lr"] for group in scheduler.optimizer.param_groups]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{k}" for n, k in SCHEDULERS])
def test_learning_rates_match_torch_step_for_step(name, kwargs):
    """Identical floats: both sides evaluate the same double-precision expressions in the same order."""
    manual_scheduler, torch_scheduler = pair(name, kwargs)
    seen = set()
    for t in range(STEPS):
        seen.add(tuple(lrs(manual_scheduler)))
        assert lrs(manual_scheduler) == lrs(torch_scheduler), f"{name} step {t}"
        assert manual_scheduler.get_last_lr() == torch_scheduler.get_last_lr(), f"{name} step {t}"
        assert manual_scheduler.last_epoch == torch_scheduler.last_epoch
        step(manual_scheduler, name, t)
        step(torch_scheduler, name, t)
    assert len(seen) >= 2, f"{name}: the schedule never changed the lr"
    torch_state = torch_scheduler.state_dict()
    manual_state = manual_scheduler.state_dict()
    assert set(manual_state) <= set(torch_state)
    assert manual_state == {key: torch_state[key] for key in manual_state}
    assert ([g.get("initial_lr") for g in manual_scheduler.optimizer.param_groups]
            == [g.get("initial_lr") for g in torch_scheduler.optimizer.param_groups])


@pytest.mark.parametrize("direction", ["manual_to_torch", "torch_to_manual"])
@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{k}" for n, k in SCHEDULERS])
def test_state_dict_moves_between_sides_mid_schedule(name, kwargs, direction):
    manual_scheduler, torch_scheduler = pair(name, kwargs)
    source, target = (manual_scheduler, torch_scheduler) if direction == "manual_to_torch" else (
        torch_scheduler, manual_scheduler)
    for t in range(STEPS // 2):
        step(source, name, t)
    target.load_state_dict(source.state_dict())
    for group, lr in zip(target.optimizer.param_groups, lrs(source), strict=True):
        group["lr"] = lr  # the optimizer's own state_dict carries the lr; only the scheduler is moved here
    for t in range(STEPS // 2, STEPS):
        step(source, name, t)
        step(target, name, t)
        assert lrs(target) == lrs(source), f"{name} step {t}"


@pytest.mark.parametrize("name, kwargs", [s for s in SCHEDULERS if s[0] != "ReduceLROnPlateau"],
                         ids=[f"{n}-{k}" for n, k in SCHEDULERS if n != "ReduceLROnPlateau"])
def test_resuming_with_last_epoch_and_the_closed_form_match_torch(name, kwargs):
    """Constructing with last_epoch (needs initial_lr in the groups) and the deprecated step(epoch) form."""
    manual_scheduler, torch_scheduler = pair(name, kwargs)
    for scheduler in (manual_scheduler, torch_scheduler):
        for group in scheduler.optimizer.param_groups:
            group["lr"] = group["initial_lr"]
    resumed = [type(s)(s.optimizer, **kwargs, last_epoch=9) for s in (manual_scheduler, torch_scheduler)]
    for t in range(10, 25):
        step(resumed[0], name, t)
        step(resumed[1], name, t)
        assert lrs(resumed[0]) == lrs(resumed[1]), f"{name} resumed, step {t}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for epoch in (3, 11, 40):
            manual_scheduler.step(epoch)
            torch_scheduler.step(epoch)
            assert lrs(manual_scheduler) == lrs(torch_scheduler), f"{name} step({epoch})"


def test_resuming_without_initial_lr_is_a_clear_error():
    optimizer = manual.optim.SGD([mnn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(KeyError, match=r"StepLR: param 'initial_lr' is not specified in param_groups\[0\]"):
        manual.optim.lr_scheduler.StepLR(optimizer, step_size=2, last_epoch=4)


@pytest.mark.parametrize("T_max, eta_min", [(10, 0.0), (7, 1e-3), (100, 1e-2)])
def test_cosine_recursion_matches_its_closed_form(T_max, eta_min):
    """torch's recursive formula stays within rounding of eta_min + (base - eta_min)(1 + cos(πt/T))/2."""
    scheduler = manual.optim.lr_scheduler.CosineAnnealingLR(
        manual.optim.SGD([mnn.Parameter(np.zeros(1))], lr=0.1), T_max=T_max, eta_min=eta_min)
    for t in range(1, 3 * T_max + 1):
        scheduler.step()
        closed = eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
        assert abs(scheduler.get_last_lr()[0] - closed) <= update_rule_tolerance_for("float64").rtol * 0.1, t


INVALID = [
    ("StepLR", {"step_size": 0}, ValueError, r"StepLR: invalid step_size=0, expected an integer >= 1"),
    ("CosineAnnealingLR", {"T_max": 0}, ValueError, r"CosineAnnealingLR: invalid T_max=0, expected T_max > 0"),
    ("ReduceLROnPlateau", {"factor": 1.0}, ValueError, r"ReduceLROnPlateau: invalid factor=1\.0, expected factor < 1"),
    ("ReduceLROnPlateau", {"mode": "up"}, ValueError, r"invalid mode='up', expected 'min' or 'max'"),
    ("ReduceLROnPlateau", {"threshold_mode": "x"}, ValueError, r"invalid threshold_mode='x'"),
    ("ReduceLROnPlateau", {"min_lr": [0.0, 0.0]}, ValueError, r"invalid min_lr=\[0\.0, 0\.0\], expected one value"),
]


@pytest.mark.parametrize("name, kwargs, error, message", INVALID, ids=[f"{n}-{k}" for n, k, _, _ in INVALID])
def test_invalid_arguments_raise_clear_errors(name, kwargs, error, message):
    optimizer = manual.optim.SGD([mnn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(error, match=message):
        getattr(manual.optim.lr_scheduler, name)(optimizer, **kwargs)
    with pytest.raises(TypeError, match="is not a manual.optim.Optimizer"):
        getattr(manual.optim.lr_scheduler, name)(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]), **{
            "StepLR": {"step_size": 1}, "CosineAnnealingLR": {"T_max": 1}}.get(name, {}))


def test_harness_reports_a_wrong_schedule():
    """A manual scheduler with another gamma than torch's: the harness names the group's lr."""
    case = next(c for c in training_cases.OPTIMIZER_CASES if c.scheduler and c.scheduler[0] == "StepLR")
    torch_twin, manual_twin = build_twins(case, "float64", "cpu", seed=0)
    manual_twin.scheduler.gamma *= 1.01
    result = run_twins(torch_twin, manual_twin, case.data.stream(0, "float64"), case.steps, "float64", "cpu")
    assert not result.passed
    assert result.first_mismatch.name == "state.group0.lr"
    assert result.first_mismatch.step == case.scheduler[1]["step_size"] - 1
