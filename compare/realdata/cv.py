"""Cross-validation on both backends: the folds of a scheme (K-fold, stratified K-fold, leave-one-out, hold-out,
all from manual.data) and one twin trainer per fold.

Every fold trains the manual twin and the torch twin of one recipe on identical rows and identical
mini-batches (compare/realdata/training.py) and scores their test metrics, beside scikit-learn's MLP on the same
fold as the peer baseline (compare/realdata/peer.py). A fold "agrees" when the accuracies are equal and the
losses (and MAE/MSE) are within the dtype's tolerance (compare/engine/tolerances.py); a fold that does not is trained
again to say where and why the twins parted (compare/realdata/divergence.py).
Dropout masks come from each backend's own random generator (NumPy cannot replay torch's), so a recipe with
dropout > 0 trains two different networks and is not expected to agree; everything else is deterministic.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from compare.realdata.divergence import parting
from compare.realdata.training import Recipe, Split, TwinTrainer, agreement, prepare_split
from manual.data import KFold, LeaveOneOut, StratifiedKFold, holdout_split


@dataclass
class FoldResult:
    fold: int
    n_train: int
    n_test: int
    manual: dict
    torch: dict
    peer: dict | None
    param_err: float
    agree: bool
    seconds: dict = field(default_factory=dict)
    parted: str | None = None  # a fold that does not agree: where and why its twins parted


def make_splits(dataset, folds: int = 5, loo: bool = False, holdout: float | None = None, stratify: bool = True,
                seed: int = 0) -> tuple[str, list]:
    """(description, [(train_idx, test_idx), ...]) for the requested scheme."""
    labels = dataset.y if stratify and dataset.is_classification else None
    n = len(dataset.y)
    if holdout is not None:
        return (f"hold-out {holdout:g}{' stratified' if labels is not None else ''}",
                [holdout_split(n, holdout, seed=seed, stratify=labels)])
    if loo:
        return f"leave-one-out ({n} folds)", list(LeaveOneOut().split(dataset.X))
    splitter = (StratifiedKFold if labels is not None else KFold)(folds, shuffle=True, seed=seed)
    return repr(splitter), list(splitter.split(dataset.X, labels))


def run_cv(dataset, recipe: Recipe, splits, peer: bool = True,
           progress: Callable[[str], None] | None = None) -> list[FoldResult]:
    """Train and evaluate both twins (and the scikit-learn peer when `peer`) on every split; `progress` is told
    each finished epoch."""
    peer_metrics: Callable[[Recipe, Split, dict, str], dict[str, float | None] | None] | None = None
    if peer:
        from compare.realdata.peer import peer_metrics
    results = []
    for fold, (train_idx, test_idx) in enumerate(splits, start=1):
        split = prepare_split(dataset, train_idx, test_idx, recipe.loss[0], recipe.dtype)
        trainer = TwinTrainer(recipe, split)
        for epoch in range(1, recipe.epochs + 1):
            trainer.train_epoch()
            if progress:
                progress(f"fold {fold}/{len(splits)}, epoch {epoch}/{recipe.epochs}")
        scores = trainer.evaluate()
        seconds = dict(trainer.seconds)
        peer_scores = None
        if peer_metrics is not None:
            start = time.perf_counter()
            peer_scores = peer_metrics(recipe, split, trainer.torch.optimizer.param_groups[0], dataset.task)
            seconds["sklearn"] = time.perf_counter() - start
        agree = agreement(scores["manual"], scores["torch"], recipe.dtype)
        parted = None if agree else parting(recipe, split, _per_fold(progress, fold))
        results.append(FoldResult(fold, len(train_idx), len(test_idx), scores["manual"], scores["torch"], peer_scores,
                                  trainer.parameter_error(), agree, seconds, parted))
    return results


def _per_fold(progress: Callable[[str], None] | None, fold: int) -> Callable[[str], None] | None:
    if progress is None:
        return None
    return lambda message: progress(f"fold {fold}: {message}")


