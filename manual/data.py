"""Seeded data handling: mini-batches, and the hold-out / K-fold / stratified K-fold / leave-one-out splits.

Everything is index-based and driven by a seeded `numpy.random.Generator`, so the same seed gives the same
batches and folds on every run, and `compare` hands the very same arrays to both backends.

Splitters follow scikit-learn's semantics (fold sizes, stratified allocation, `split(X, y)` yielding
`(train_idx, test_idx)`, both sorted ascending), with this project's names: `seed` where scikit-learn says
`random_state`. For every K-fold splitter the test folds partition `range(n)`: no index is in both parts of a
split, and every sample is tested exactly once.
"""
from __future__ import annotations

import math
import warnings

import numpy as np


def _generator(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _num_samples(X) -> int:
    n = X if isinstance(X, (int, np.integer)) else len(X)
    if n < 1:
        raise ValueError(f"expected at least one sample, got n_samples={n}")
    return int(n)


def _encode_labels(y, n: int, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """(class code of each sample in 0..C-1, count per class); classes are numbered in order of first
    appearance in y, as scikit-learn's StratifiedKFold numbers them."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"{owner}: labels must have shape ({n},), got {y.shape}")
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    codes = np.argsort(np.argsort(first))[inverse.reshape(n)]
    return codes, np.bincount(codes)


def batch_indices(n: int, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                  generator: np.random.Generator | None = None) -> list[np.ndarray]:
    """One epoch of mini-batch indices: `range(n)` (permuted by `generator` when `shuffle`) cut into runs of
    `batch_size`; the last, shorter batch is kept unless `drop_last` (torch's DataLoader rules)."""
    if batch_size < 1:
        raise ValueError(f"batch_size should be a positive integer, got {batch_size}")
    if shuffle:
        if generator is None:
            raise ValueError("batch_indices: shuffle=True needs a generator (np.random.default_rng(seed))")
        order = generator.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


class DataLoader:
    """Mini-batches over equally long arrays, as `torch.utils.data.DataLoader(TensorDataset(*arrays), ...)`.

    `DataLoader(X, y, batch_size=32, shuffle=True, seed=0)`: each pass (epoch) yields tuples
    `(X[idx], y[idx])`; with `shuffle`, every epoch draws a fresh permutation from one generator seeded once,
    so epoch e of two loaders with the same seed is identical (the reproducibility torch gets from
    `generator=torch.Generator().manual_seed(seed)`).
    """

    def __init__(self, *arrays, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed=None):
        if not arrays:
            raise ValueError("DataLoader: expected at least one array")
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"DataLoader: arrays must have the same length, got {[len(a) for a in arrays]}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size}")
        self.arrays, self.n = arrays, lengths.pop()
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = _generator(seed)

    def __iter__(self):
        for idx in batch_indices(self.n, self.batch_size, self.shuffle, self.drop_last, self.generator):
            yield tuple(a[idx] for a in self.arrays)

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)


def holdout_split(n, test_size=0.25, seed=None, stratify=None) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx), both sorted, as scikit-learn's `train_test_split` on `range(n)`.

    test_size: a fraction in (0, 1) (n_test = ceil(test_size·n)) or a count in [1, n-1].
    stratify: labels of shape (n,); each class c with n_c members gets n_test·n_c/n test samples rounded by
    largest remainder (so the counts add up to n_test and each is within 1 of its exact share).
    """
    n = _num_samples(n)
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif 0.0 < float(test_size) < 1.0:
        n_test = math.ceil(float(test_size) * n)
    else:
        raise ValueError(f"holdout_split: test_size={test_size} should be a fraction in (0, 1) or a count")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"holdout_split: test_size={test_size} with n_samples={n} leaves "
                         f"{n_test} test and {n - n_test} training samples; both need at least one")
    rng = _generator(seed)
    if stratify is None:
        test = rng.permutation(n)[:n_test]
    else:
        codes, counts = _encode_labels(stratify, n, "holdout_split")
        exact = n_test * counts / n
        per_class = np.floor(exact).astype(int)
        remainder_order = np.argsort(-(exact - per_class), kind="stable")
        per_class[remainder_order[:n_test - per_class.sum()]] += 1
        test = np.concatenate([rng.permutation(np.flatnonzero(codes == c))[:k] for c, k in enumerate(per_class)])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


class _KFoldBase:
    """split(X, y) from a fold number per sample (`_test_folds`); shared by the K-fold splitters."""

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed=None):
        if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
            raise ValueError(f"{type(self).__name__}: n_splits must be an integer of at least 2, got {n_splits!r}")
        if seed is not None and not shuffle:
            raise ValueError(f"{type(self).__name__}: seed={seed!r} has no effect without shuffle=True")
        self.n_splits, self.shuffle, self.seed = int(n_splits), shuffle, seed

    def get_n_splits(self, X=None, y=None) -> int:
        return self.n_splits

    def split(self, X, y=None):
        n = _num_samples(X)
        if self.n_splits > n:
            raise ValueError(f"{type(self).__name__}: cannot have n_splits={self.n_splits} greater than "
                             f"the number of samples n_samples={n}")
        folds = self._test_folds(n, y)
        for k in range(self.n_splits):
            yield np.flatnonzero(folds != k), np.flatnonzero(folds == k)

    def __repr__(self):
        return f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"


class KFold(_KFoldBase):
    """K consecutive folds of `range(n)` (of the permuted range when `shuffle`); the first n % K folds hold
    n//K + 1 samples, the others n//K (scikit-learn's KFold)."""

    def _test_folds(self, n: int, y) -> np.ndarray:
        order = _generator(self.seed).permutation(n) if self.shuffle else np.arange(n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[:n % self.n_splits] += 1
        folds = np.empty(n, dtype=int)
        folds[order] = np.repeat(np.arange(self.n_splits), sizes)
        return folds


class StratifiedKFold(_KFoldBase):
    """K folds that keep each class's share: scikit-learn's allocation, so with shuffle=False the folds equal
    scikit-learn's exactly.

    Sort the labels; fold k takes the sorted labels at positions k, k+K, k+2K, ...; so class c (n_c members)
    gets floor(n_c/K) or ceil(n_c/K) members in every fold and fold sizes differ by at most one. Within a
    class, members go to folds in index order (0,0,..,1,1,..), or in a seeded random order when `shuffle`.
    A class with fewer than K members cannot appear in every fold: warned about, as scikit-learn does.
    """

    def _test_folds(self, n: int, y) -> np.ndarray:
        if y is None:
            raise ValueError("StratifiedKFold.split: the labels y are required")
        codes, counts = _encode_labels(y, n, type(self).__name__)
        if self.n_splits > counts.max():
            raise ValueError(f"StratifiedKFold: n_splits={self.n_splits} cannot be greater than the number of "
                             f"members in each class (largest class: {counts.max()})")
        if self.n_splits > counts.min():
            warnings.warn(f"StratifiedKFold: the least populated class has only {counts.min()} members, "
                          f"which is less than n_splits={self.n_splits}", UserWarning, stacklevel=3)
        sorted_codes = np.sort(codes)
        allocation = np.stack([np.bincount(sorted_codes[k::self.n_splits], minlength=len(counts))
                               for k in range(self.n_splits)])
        rng = _generator(self.seed) if self.shuffle else None
        folds = np.empty(n, dtype=int)
        for c in range(len(counts)):
            folds_for_class = np.repeat(np.arange(self.n_splits), allocation[:, c])
            if rng is not None:
                rng.shuffle(folds_for_class)
            folds[codes == c] = folds_for_class
        return folds


class LeaveOneOut:
    """n splits of `range(n)`: test = [i], train = every other index (K-fold with K = n)."""

    def get_n_splits(self, X, y=None) -> int:
        return _num_samples(X)

    def split(self, X, y=None):
        n = _num_samples(X)
        if n < 2:
            raise ValueError(f"LeaveOneOut: cannot perform LOO with n_samples={n}")
        everything = np.arange(n)
        for i in range(n):
            yield np.delete(everything, i), everything[i:i + 1]

    def __repr__(self):
        return "LeaveOneOut()"
