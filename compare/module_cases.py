"""The catalogue of single modules and losses, each with the inputs that exercise it (edges included).

A module spec (class name, kwargs) is looked up in `manual.nn` and in `torch.nn` (or `torch_ref.nn` for
what torch.nn lacks). Inputs are made in float64 by a function of a NumPy generator and cast per dtype.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class ModuleCase:
    name: str
    module: tuple
    input: Callable[[np.random.Generator], np.ndarray]
    target: Callable[[np.random.Generator], np.ndarray] | None = None  # losses only
    gradcheck: bool = True  # False only where central differences straddle a kink on purpose


def normal(*shape, scale=1.0):
    return lambda rng: scale * rng.standard_normal(shape)


def with_values(*shape, values):
    """Random normals with some entries set to the given edge values (zeros, kinks, large magnitudes)."""
    def make(rng):
        x = rng.standard_normal(shape)
        x.flat[: len(values)] = values
        return x
    return make


def class_indices(n, classes):
    return lambda rng: rng.integers(0, classes, size=n)


MODULE_CASES = [
    ModuleCase("linear", ("Linear", {"in_features": 5, "out_features": 3}), normal(4, 5)),
    ModuleCase("linear-3d-nobias", ("Linear", {"in_features": 5, "out_features": 3, "bias": False}), normal(2, 4, 5)),
    ModuleCase("relu", ("ReLU", {}), normal(4, 6)),
    ModuleCase("relu-at-zero", ("ReLU", {}), with_values(4, 6, values=[0.0, -0.0, 0.0]), gradcheck=False),
    ModuleCase("sigmoid", ("Sigmoid", {}), normal(4, 6, scale=3)),
    ModuleCase("sigmoid-saturated", ("Sigmoid", {}), with_values(4, 6, values=[50.0, -50.0, 0.0])),
    ModuleCase("tanh", ("Tanh", {}), normal(4, 6, scale=2)),
    ModuleCase("tanh-saturated", ("Tanh", {}), with_values(4, 6, values=[50.0, -50.0, 0.0])),
    ModuleCase("softmax-dim1", ("Softmax", {"dim": 1}), normal(4, 6, scale=3)),
    ModuleCase("softmax-dim0", ("Softmax", {"dim": 0}), normal(4, 6)),
    ModuleCase("softmax-large-logits", ("Softmax", {"dim": -1}), with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4]),
               gradcheck=False),
    ModuleCase("mse", ("MSELoss", {}), normal(4, 3), normal(4, 3)),
    ModuleCase("mse-sum", ("MSELoss", {"reduction": "sum"}), normal(4, 3), normal(4, 3)),
    ModuleCase("mse-none", ("MSELoss", {"reduction": "none"}), normal(4, 3), normal(4, 3)),
    ModuleCase("ce", ("CrossEntropyLoss", {}), normal(6, 4), class_indices(6, 4)),
    ModuleCase("ce-sum", ("CrossEntropyLoss", {"reduction": "sum"}), normal(6, 4), class_indices(6, 4)),
    ModuleCase("ce-none", ("CrossEntropyLoss", {"reduction": "none"}), normal(6, 4), class_indices(6, 4)),
    ModuleCase("ce-large-logits", ("CrossEntropyLoss", {}), with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4]),
               class_indices(3, 4), gradcheck=False),
]


def select(only: str | None = None) -> list[ModuleCase]:
    return [case for case in MODULE_CASES if only is None or only in case.name]
