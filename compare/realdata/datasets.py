"""Real data: scikit-learn's bundled datasets (shipped inside the package, no download), imported lazily.

scikit-learn is optional (`pip install backprop-crosscheck[sklearn]`); without it `load` raises an ImportError
that says so, and the tests that need it skip.

| name          | task           | samples | features | target                                  |
| ------------- | -------------- | ------- | -------- | --------------------------------------- |
| digits        | classification | 1797    | 64       | 10 classes (8x8 images of digits 0-9)   |
| breast_cancer | binary         | 569     | 30       | 0 = malignant, 1 = benign               |
| diabetes      | regression     | 442     | 10       | disease progression after a year, 25-346 |

Features are standardised per split with the statistics of the training part only (`Standardizer.fit`
on the training rows, then applied to both parts), so nothing about the test rows leaks into training.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from manual.data import holdout_split

# name -> (sklearn.datasets loader, task)
DATASETS = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "binary"),
    "diabetes": ("load_diabetes", "regression"),
}


@dataclass(frozen=True)
class Dataset:
    """X: float64 (n, features). y: int64 class labels (n,) for classification/binary, float64 (n,) otherwise."""
    name: str
    task: str
    X: np.ndarray
    y: np.ndarray

    @property
    def n_classes(self) -> int | None:
        return None if self.task == "regression" else int(self.y.max()) + 1

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"


def load(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    try:
        import sklearn.datasets
    except ImportError as error:
        raise ImportError(f"dataset {name!r} needs scikit-learn, the optional extra [sklearn]") from error
    loader, task = DATASETS[name]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    y = y.astype(np.float64) if task == "regression" else y.astype(np.int64)
    return Dataset(name, task, np.asarray(X, dtype=np.float64), y)


def subset(dataset: Dataset, n: int, seed: int = 0) -> Dataset:
    """n samples drawn without replacement (stratified by class for classification), in their original order."""
    if n >= len(dataset.y):
        return dataset
    _, keep = holdout_split(len(dataset.y), test_size=n, seed=seed,
                            stratify=dataset.y if dataset.is_classification else None)
    return replace(dataset, X=dataset.X[keep], y=dataset.y[keep])


@dataclass(frozen=True)
class Standardizer:
    """z = (v - mean) / scale per column, with the statistics of the rows given to `fit`.

    scale is the population std (ddof=0); a constant column (digits has all-zero pixels) gets scale 1, as
    scikit-learn's StandardScaler does, so it maps to 0 instead of dividing by zero.
    """
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale + self.mean
