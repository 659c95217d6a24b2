"""Optimizer paths on 2-D surfaces: the same start, the same optimizer, manual and torch, every point kept.

    points = manual_path("rosenbrock", "Adam")      # (steps + 1, 2) array of (x, y), start first
    points = torch_path("rosenbrock", "Adam")       # the same path from torch.optim and autograd

manual steps with the hand-derived gradient of the surface, torch with autograd on the same expression, so a
path checks the gradient and the update rule together. The arrays are plain NumPy (float64 or float32), made
to be drawn over `Surface.value` contours (the plots reuse them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import manual.nn
import manual.optim


@dataclass(frozen=True)
class Surface:
    name: str
    value: Callable  # f(x, y): one expression for NumPy arrays (contours) and torch tensors (autograd)
    gradient: Callable  # (df/dx, df/dy), derived by hand
    start: tuple
    minimum: tuple
    steps: int


def _bowl(x, y):
    """f = (x² + 10·y²)/2: an elongated quadratic bowl, curvatures 1 and 10, minimum 0 at (0, 0)."""
    return (x * x + 10 * (y * y)) / 2


def _bowl_gradient(x, y):
    """df/dx = x, df/dy = 10·y."""
    return x, 10 * y


def _rosenbrock(x, y):
    """f = (1 - x)² + 100·(y - x²)²: a curved, flat-bottomed valley, minimum 0 at (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rosenbrock_gradient(x, y):
    """df/dx = -2(1 - x) - 400·x·(y - x²), df/dy = 200·(y - x²)."""
    valley = y - x * x
    return -2 * (1 - x) - 400 * x * valley, 200 * valley


SURFACES = {
    "quadratic_bowl": Surface("quadratic_bowl", _bowl, _bowl_gradient, start=(-4.0, 1.5), minimum=(0.0, 0.0),
                              steps=100),
    "rosenbrock": Surface("rosenbrock", _rosenbrock, _rosenbrock_gradient, start=(-1.5, 2.0), minimum=(1.0, 1.0),
                          steps=500),
}

# label -> (optimizer class name, kwargs), per surface (the labels of the plots); learning rates chosen so each
# path makes visible progress within the surface's steps (on Rosenbrock some reach (1, 1), some do not).
PATH_OPTIMIZERS = {
    "quadratic_bowl": {
        "SGD": ("SGD", {"lr": 0.09}),
        "Momentum": ("SGD", {"lr": 0.02, "momentum": 0.9}),
        "Nesterov": ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
        "AdaGrad": ("Adagrad", {"lr": 1.0}),
        "RMSProp": ("RMSprop", {"lr": 0.05}),
        "Adam": ("Adam", {"lr": 0.2}),
        "AdamW": ("AdamW", {"lr": 0.2, "weight_decay": 0.1}),
    },
    "rosenbrock": {
        "SGD": ("SGD", {"lr": 1.5e-3}),
        "Momentum": ("SGD", {"lr": 5e-4, "momentum": 0.9}),
        "Nesterov": ("SGD", {"lr": 5e-4, "momentum": 0.9, "nesterov": True}),
        "AdaGrad": ("Adagrad", {"lr": 1.0}),
        "RMSProp": ("RMSprop", {"lr": 0.01}),
        "Adam": ("Adam", {"lr": 0.1}),
        "AdamW": ("AdamW", {"lr": 0.1, "weight_decay": 0.01}),
    },
}


def manual_path(surface: str, label: str, steps: int | None = None, dtype: str = "float64") -> np.ndarray:
    """The points manual.optim visits from the surface's start, with the hand-derived gradient."""
    spec = SURFACES[surface]
    name, kwargs = PATH_OPTIMIZERS[surface][label]
    point = manual.nn.Parameter(np.array(spec.start, dtype=dtype))
    optimizer = getattr(manual.optim, name)([point], **kwargs)
    points = [point.data.copy()]
    for _ in range(spec.steps if steps is None else steps):
        optimizer.zero_grad()
        point.grad = np.array(spec.gradient(point.data[0], point.data[1]), dtype=dtype)
        optimizer.step()
        points.append(point.data.copy())
    return np.stack(points)


def torch_path(surface: str, label: str, steps: int | None = None, dtype: str = "float64") -> np.ndarray:
    """The points torch.optim visits from the surface's start, with autograd's gradient of `Surface.value`."""
    spec = SURFACES[surface]
    name, kwargs = PATH_OPTIMIZERS[surface][label]
    point = torch.nn.Parameter(torch.tensor(spec.start, dtype=getattr(torch, dtype)))
    optimizer = getattr(torch.optim, name)([point], **kwargs)
    points = [point.detach().numpy().copy()]
    for _ in range(spec.steps if steps is None else steps):
        optimizer.zero_grad()
        spec.value(point[0], point[1]).backward()
        optimizer.step()
        points.append(point.detach().numpy().copy())
    return np.stack(points)
