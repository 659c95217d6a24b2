"""The catalogue: each case names a model, a loss, an optimizer and a batch stream, once, for both backends.

A spec is (class name, keyword arguments); the same name is looked up in `manual.models`/`torch_ref.models`,
`manual.nn`/`torch.nn` and `manual.optim`/`torch.optim`, so there is no translation table.
"""
from dataclasses import dataclass, field

from compare.batches import Batches

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Case:
    name: str
    model: tuple
    loss: tuple
    optimizer: tuple
    data: Batches
    steps: int = 50
    dtypes: tuple = field(default=DTYPES)


REGRESSION = Batches("regression", in_features=5, targets=1, batch_size=16)
THREE_CLASSES = Batches("classification", in_features=4, targets=3, batch_size=16)

CATALOGUE = [
    Case("linreg-mse-sgd", ("LinearRegression", {"in_features": 5}), ("MSELoss", {}), ("SGD", {"lr": 0.05}),
         REGRESSION),
    Case("softmaxreg-ce-sgd_momentum", ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
         ("CrossEntropyLoss", {}), ("SGD", {"lr": 0.1, "momentum": 0.9}), THREE_CLASSES),
    *[Case(f"mlp6-7_{act}-ce-sgd_nesterov_wd",
           ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": act}),
           ("CrossEntropyLoss", {}),
           ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}), THREE_CLASSES)
      for act in ("relu", "sigmoid", "tanh")],
]


def select(only: str | None = None) -> list[Case]:
    return [case for case in CATALOGUE if only is None or only in case.name]
