"""Learning-rate schedulers, as torch.optim.lr_scheduler: the same recursive formulas, counters and state_dict.

Protocol (torch's): the constructor records `initial_lr` in every param group (when `last_epoch == -1`),
sets `base_lrs`, and takes one initial step (epoch 0, usually leaving the lr unchanged). Call
`scheduler.step()` once per epoch (or per batch) AFTER `optimizer.step()`; each call increments `last_epoch`
and writes the new lr into every `param_group["lr"]`; `get_last_lr()` returns them.

Most schedulers are written, as in torch, as a recursion on the CURRENT group lr (lr_t = f(lr_{t-1})), not as
a closed form of `base_lrs`: other code (or a second scheduler) changing `group["lr"]` in between is composed,
not overwritten. `step(epoch)` (deprecated in torch, still supported) jumps to an epoch with the closed form.
`state_dict()` holds every attribute but the optimizer, with torch's names, so the two sides can load each
other's scheduler state.
"""
from __future__ import annotations

import copy
import math
import warnings
from collections import Counter
from typing import SupportsFloat

from manual.optim.optimizer import Optimizer

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. "
    "Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different from "
    "None, the closed form is used instead of the new chainable form, where available.")


def _check(owner: str, name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{owner}: invalid {name}={value!r}, expected {expected}")


class LRScheduler:
    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not a manual.optim.Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming a scheduler with last_epoch={last_epoch} >= 0 (load the "
                                   f"optimizer's state_dict first)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # the constructor's step: epoch 0, the lr is not decayed yet
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of every group for the epoch `last_epoch` just reached (recursive form)."""
        raise NotImplementedError

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
            self.last_epoch = epoch
            values = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (torch's layout: `base_lrs`, `last_epoch`, `_step_count`, ...)."""
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """lr_t = lr_{t-1}·gamma when t is a non-zero multiple of step_size, else lr_{t-1}.

    Closed form: lr_t = base_lr·gamma^(t // step_size).
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _check("StepLR", "step_size", step_size, isinstance(step_size, int) and step_size >= 1, "an integer >= 1")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr_t = lr_{t-1}·gamma^k when t appears k times among the milestones, else lr_{t-1}.

    Closed form: lr_t = base_lr·gamma^(number of milestones <= t).
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        passed = sum(count for milestone, count in self.milestones.items() if milestone <= self.last_epoch)
        return [base_lr * self.gamma ** passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr_t = lr_{t-1}·gamma for t >= 1. Closed form: lr_t = base_lr·gamma^t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max epochs, without restarts (SGDR's schedule).

    Closed form:   lr_t = eta_min + (base_lr - eta_min)·(1 + cos(π·t/T_max))/2
    torch's recursion (used by `step()`), exact in real arithmetic, to within rounding in floating point:
        lr_t = eta_min + (lr_{t-1} - eta_min)·(1 + cos(π·t/T_max)) / (1 + cos(π·(t-1)/T_max))
    except where the denominator is 0 (t - 1 = T_max, 3·T_max, ...: lr_{t-1} = eta_min), where it adds
        lr_t = lr_{t-1} + (base_lr - eta_min)·(1 - cos(π/T_max))/2.
    Past T_max the lr rises again (the cosine continues), as in torch. When resuming (`last_epoch` > 0 at
    construction) the first step uses the closed form.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        _check("CosineAnnealingLR", "T_max", T_max, T_max > 0, "T_max > 0")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / T)) / 2 for base_lr in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - eta_min) + eta_min
                for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by `factor` once the metric has not improved for more than `patience` steps.

    `step(metric)`: the metric improves when, with `best` the best value so far,
        mode='min', threshold_mode='rel':  metric < best·(1 - threshold)
        mode='min', threshold_mode='abs':  metric < best - threshold
        mode='max': metric > best·(1 + threshold)  or  metric > best + threshold
    An improvement resets `num_bad_epochs`; otherwise it grows by 1 (held at 0 during `cooldown` steps after a
    reduction). When `num_bad_epochs > patience`: lr = max(lr·factor, min_lr), applied only if it lowers the lr
    by more than `eps`; then the cooldown starts and `num_bad_epochs` is reset.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0,
                 eps: float = 1e-8):
        _check("ReduceLROnPlateau", "factor", factor, factor < 1.0, "factor < 1.0")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: {type(optimizer).__name__} is not a manual.optim.Optimizer")
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            _check("ReduceLROnPlateau", "min_lr", min_lr, len(min_lr) == len(optimizer.param_groups),
                   f"one value per param group ({len(optimizer.param_groups)})")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        _check("ReduceLROnPlateau", "mode", mode, mode in ("min", "max"), "'min' or 'max'")
        _check("ReduceLROnPlateau", "threshold_mode", threshold_mode, threshold_mode in ("rel", "abs"),
               "'rel' or 'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, value: float, best: float) -> bool:
        sign = 1.0 if self.mode == "max" else -1.0  # max: value > bound; min: value < bound
        bound = best * (1.0 + sign * self.threshold) if self.threshold_mode == "rel" else best + sign * self.threshold
        return value > bound if self.mode == "max" else value < bound

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    # step(metrics) is torch's signature for this scheduler (torch's own ReduceLROnPlateau.step has the same
    # override ignore): it needs the metric that the other schedulers' step() does not take
    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} param "
                                   f"groups but min_lr has {len(self.min_lrs)} values (a group was added after the "
                                   f"scheduler was built); set `min_lrs` to match")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
