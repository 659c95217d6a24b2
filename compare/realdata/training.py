"""Train a manual twin and a torch twin side by side on a real dataset split: the engine of `cv` and `train`.

A recipe names a model, a loss and an optimizer once (specs looked up by name in manual.models/torch_ref.models,
manual.nn/torch.nn and manual.optim/torch.optim, as in the catalogue), plus epochs, batch size, dtype and seed.
Per split: features standardised with the training rows' statistics (and the regression target too, so the
loss is on a unit scale; MAE/MSE are reported back in the target's own units); torch initialises the model and
manual loads its state_dict; one seeded `manual.data.DataLoader` makes every mini-batch, and the same arrays go
to both backends. Nothing is re-synchronised: each backend runs free from its first step to its last.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from compare.catalogue.case_types import Case
from compare.checks.inspection import assert_same_summary
from compare.engine.comparison import compare_arrays, compare_step
from compare.engine.error_table import TensorError
from compare.engine.step_tensors import ModelTensors
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import Twin, build_twins, manual_step, synchronize, to_numpy, torch_step
from compare.realdata.datasets import Dataset, Standardizer
from manual import no_grad
from manual.data import DataLoader

INDEX_TARGET_LOSSES = ("CrossEntropyLoss", "NLLLoss")  # class indices (n,) int64; every other loss: (n, 1) floats
LOGIT_LOSSES = ("BCEWithLogitsLoss",)  # a single output is a logit (decision at 0); otherwise a score (at 0.5)
LossT = TypeVar("LossT", bound=float | None)  # the loss `metrics` reports: the twins' float; the peer's, maybe None
T = TypeVar("T")


@dataclass(frozen=True)
class Recipe:
    model: tuple
    loss: tuple
    optimizer: tuple
    epochs: int = 20
    batch_size: int = 32
    dtype: str = "float64"
    device: str = "cpu"
    seed: int = 0

    def describe(self) -> str:
        model, loss, optimizer = (f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
                                  for name, kwargs in (self.model, self.loss, self.optimizer))
        return (f"{model} + {loss} + {optimizer}, {self.epochs} epochs, batch {self.batch_size}, {self.dtype}, "
                f"{self.device}, seed {self.seed}")


@dataclass(frozen=True)
class Split:
    """One train/test split ready for training: standardised features and the loss's target layout."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray  # class labels, or the regression target in its own units
    target_scaler: Standardizer | None


def prepare_split(dataset: Dataset, train_idx, test_idx, loss_name: str, dtype: str) -> Split:
    features = Standardizer.fit(dataset.X[train_idx])
    X_train, X_test = (features.transform(dataset.X[idx]).astype(dtype) for idx in (train_idx, test_idx))
    y_train, y_test = dataset.y[train_idx], dataset.y[test_idx]
    scaler = None
    if dataset.task == "regression":
        scaler = Standardizer.fit(y_train)
        y_train, y_test = scaler.transform(y_train), scaler.transform(y_test)
    if loss_name not in INDEX_TARGET_LOSSES:
        y_train, y_test = (y.reshape(-1, 1).astype(dtype) for y in (y_train, y_test))
    return Split(X_train, y_train, X_test, y_test, dataset.y[test_idx], scaler)


def metrics(output: np.ndarray, loss: LossT, split: Split, loss_name: str) -> dict[str, float | LossT]:
    """Test metrics from a model's outputs: loss, and accuracy (classification) or MAE and MSE (regression)."""
    output = np.asarray(output, dtype=np.float64)
    if split.target_scaler is not None:
        error = split.target_scaler.inverse(output[:, 0]) - split.labels_test
        return {"loss": loss, "mae": float(np.abs(error).mean()), "mse": float((error ** 2).mean())}
    if output.shape[1] > 1:
        predicted = output.argmax(axis=1)
    else:
        predicted = (output[:, 0] > (0.0 if loss_name in LOGIT_LOSSES else 0.5)).astype(np.int64)
    return {"loss": loss, "accuracy": float((predicted == split.labels_test).mean())}


class TwinTrainer:
    """The torch and manual twins of a recipe on one split; trains both on identical mini-batches."""

    def __init__(self, recipe: Recipe, split: Split):
        self.recipe, self.split = recipe, split
        self.torch, self.manual = build_twins(Case("cv", recipe.model, recipe.loss, recipe.optimizer, data=None),
                                              recipe.dtype, recipe.device, recipe.seed)
        # the largest batch the loader gives: a batch size above the training rows is one batch of them all
        self.batch_shape = (min(recipe.batch_size, len(split.X_train)), *split.X_train.shape[1:])
        assert_same_summary(self.manual.model, self.torch.model, self.batch_shape)
        self.loader = DataLoader(split.X_train, split.y_train, batch_size=recipe.batch_size, shuffle=True,
                                 seed=recipe.seed)
        self.seconds = {"manual": 0.0, "torch": 0.0}

    def _timed(self, side: str, function: Callable[..., T], *args) -> T:
        start = time.perf_counter()
        result = function(*args)
        synchronize(self.recipe.device)
        self.seconds[side] += time.perf_counter() - start
        return result

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training rows; the mean training loss (weighted by batch size) of each backend."""
        totals = {"manual": 0.0, "torch": 0.0}
        for x, y in self.loader:
            _, torch_loss, _ = self._timed("torch", torch_step, self.torch, x, y, self.recipe.device)
            _, manual_loss, _ = self._timed("manual", manual_step, self.manual, x, y)
            totals["torch"] += len(x) * torch_loss.item()
            totals["manual"] += len(x) * float(manual_loss)
        return {side: total / len(self.split.y_train) for side, total in totals.items()}

    def _torch_eval(self) -> tuple[np.ndarray, float]:
        device, twin = self.recipe.device, self.torch
        twin.model.eval()
        with torch.no_grad():
            output = twin.model(torch.from_numpy(self.split.X_test).to(device))
            loss = twin.loss_fn(output, torch.from_numpy(self.split.y_test).to(device)).item()
        twin.model.train()
        return to_numpy(output), loss

    def _manual_eval(self) -> tuple[np.ndarray, float]:
        twin = self.manual
        twin.model.eval()
        with no_grad():  # as torch.no_grad() on the torch side: no backward follows, nothing is kept
            output = twin.model(self.split.X_test)
            loss = float(twin.loss_fn(output, self.split.y_test))
        twin.model.train()
        return output, loss

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Test metrics of each backend: {"manual": {...}, "torch": {...}}."""
        loss_name = self.recipe.loss[0]
        return {side: metrics(*self._timed(side, evaluate), self.split, loss_name)
                for side, evaluate in (("torch", self._torch_eval), ("manual", self._manual_eval))}

    def parameter_error(self) -> float:
        """max over parameters of max|manual - torch| / max|torch| (the harness's relative error)."""
        return max(error.max_rel for error in model_errors(self.torch, self.manual, self.recipe.dtype))


def model_errors(torch_twin: Twin, manual_twin: Twin, dtype: str, prefixes: tuple[str, ...] = ("param.",),
                 step: int = 0) -> list[TensorError]:
    """The twins' tensors whose names start with one of `prefixes` ("param.", "grad.": the harness's names,
    compare/engine/step_tensors.py), manual against torch with the dtype's tolerance; one a side lacks is left out."""
    pairs = [(name, manual_value, torch_value) for name, manual_value, torch_value
             in ModelTensors(torch_twin.model, manual_twin.model).pairs(after_step=True)
             if name.startswith(prefixes) and manual_value is not None and torch_value is not None]
    return compare_step(step, pairs, tolerance_for(dtype), None)


def agreement(manual: dict[str, float], torch_: dict[str, float], dtype: str) -> bool:
    """Both backends' metrics agree: accuracies exactly, continuous metrics within the dtype's tolerance."""
    tolerance = tolerance_for(dtype)
    for name, value in torch_.items():
        if name == "accuracy":
            if manual[name] != value:
                return False
        elif not compare_arrays(0, name, manual[name], value, tolerance).passed:
            return False
    return True
