"""`python -m compare cv --dataset NAME --folds K [--loo | --holdout F]`: cross-validation on both backends
(compare/realdata/cv.py), their test metrics side by side with the difference and scikit-learn's MLP as the peer
column; then mean ± std over the folds (population std). The exit status is 0 only when every fold agrees.
Folds: StratifiedKFold for classification (KFold with --no-stratify, and for regression), LeaveOneOut with
--loo, one stratified hold-out split with --holdout; all from manual.data, seeded by --seed.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from compare.cli import arguments, render
from compare.cli.recipe_args import add_recipe_arguments, dataset_from_args, recipe_from_args, split_or_refuse
from manual.atomic import atomic_write

if TYPE_CHECKING:
    from compare.realdata.cv import FoldResult

# metric -> (column title, format of a value, format of a difference)
METRICS = {"loss": ("loss", "{:.6f}", "{:+.1e}"), "accuracy": ("acc", "{:.4f}", "{:+.4f}"),
           "mae": ("MAE", "{:.4f}", "{:+.1e}"), "mse": ("MSE", "{:.3f}", "{:+.1e}")}


def table(results: list[FoldResult]) -> str:
    names = list(results[0].torch)
    with_peer = any(r.peer is not None for r in results)
    header = ["fold", "train", "test"]
    for name in names:
        header += [f"{METRICS[name][0]} manual", f"{METRICS[name][0]} torch", "diff"]
    header += ["param err", "agree"] + ([f"{METRICS[n][0]} sklearn" for n in names] if with_peer else [])
    rows = []
    for r in results:
        row = [str(r.fold), str(r.n_train), str(r.n_test)]
        for name in names:
            _, value, diff = METRICS[name]
            row += [value.format(r.manual[name]), value.format(r.torch[name]), diff.format(r.manual[name] - r.torch[name])]
        row += [f"{r.param_err:.1e}", "yes" if r.agree else "NO"]
        if with_peer:
            row += ["-" if r.peer is None or r.peer[n] is None else METRICS[n][1].format(r.peer[n]) for n in names]
        rows.append(row)
    footer = ["mean±std", "", ""]
    for name in names:
        value = METRICS[name][1]
        footer += [_mean_std([r.manual[name] for r in results], value),
                   _mean_std([r.torch[name] for r in results], value),
                   "max " + f"{max(abs(r.manual[name] - r.torch[name]) for r in results):.1e}"]
    footer += [f"max {max(r.param_err for r in results):.1e}", f"{sum(r.agree for r in results)}/{len(results)}"]
    if with_peer:
        footer += [_mean_std([r.peer[n] for r in results if r.peer and r.peer[n] is not None], METRICS[n][1])
                   for n in names]
    return render.text(header, rows, align="right", footer=[footer])


def _mean_std(values, fmt: str) -> str:
    return f"{fmt.format(np.mean(values))}±{fmt.format(np.std(values))}" if values else "-"


def add_arguments(parser) -> None:
    add_recipe_arguments(parser)
    scheme = parser.add_mutually_exclusive_group()
    scheme.add_argument("--folds", type=arguments.int_in(2), default=5, metavar="K",
                        help="K-fold cross-validation (default 5)")
    scheme.add_argument("--loo", action="store_true", help="leave-one-out (one fold per sample; see --limit)")
    scheme.add_argument("--holdout", type=arguments.fraction, metavar="FRACTION",
                        help="one hold-out split with this test share")
    parser.add_argument("--no-stratify", action="store_true", help="plain KFold / hold-out for classification too")
    parser.add_argument("--no-sklearn", action="store_true", help="leave out the scikit-learn peer column")
    parser.add_argument("--json", metavar="PATH", type=arguments.output_file,
                        help="also write every fold's metrics as JSON")


def _needs(args) -> tuple[int, str]:
    """(samples per class, the scheme that needs them): every class in every training part (and, stratified
    K-fold, in every test fold)."""
    if args.no_stratify:
        return 1, "a split that trains on every class"
    if args.holdout is not None or args.loo:
        return 2, "leave-one-out" if args.loo else "a stratified hold-out split"
    return args.folds, f"{args.folds}-fold stratified cross-validation"


def main(args) -> int:
    from compare.realdata.cv import make_splits, run_cv  # torch: here, not above (`cv --help` needs none)

    dataset = dataset_from_args(args, *_needs(args))
    scheme, splits = split_or_refuse(lambda: make_splits(dataset, args.folds, args.loo, args.holdout,
                                                         not args.no_stratify, args.seed))
    recipe = recipe_from_args(args, dataset)
    start = time.perf_counter()
    results = run_cv(dataset, recipe, splits, peer=not args.no_sklearn, progress=render.Progress().update)
    elapsed = time.perf_counter() - start
    classes = f", {dataset.n_classes} classes" if dataset.is_classification else ""
    print(f"{dataset.name} ({dataset.task}): {len(dataset.y)} samples, {np.prod(dataset.X.shape[1:])} features{classes}; "
          f"{scheme}")
    print(f"recipe: {recipe.describe()}")
    print(table(results))
    without_peer = sum(r.peer is None for r in results)
    if without_peer and not args.no_sklearn:
        print(f"scikit-learn: no peer in {without_peer} of {len(results)} folds: its MLP lacks the recipe's optimizer, "
              "layers or input, or refused or gave up on the fit (compare/realdata/peer.py)")
    totals = {side: sum(r.seconds.get(side, 0.0) for r in results) for side in ("manual", "torch", "sklearn")}
    peer_time = f", sklearn {totals['sklearn']:.2f} s" if not args.no_sklearn else ""
    print(f"time: manual {totals['manual']:.2f} s, torch {totals['torch']:.2f} s{peer_time} "
          f"(training + test evaluation over all folds); wall {elapsed:.1f} s")
    for result in results:
        if result.parted:
            print(f"fold {result.fold} parted: {result.parted}")
    agreed = sum(r.agree for r in results)
    print(f"{agreed} of {len(results)} folds agree (accuracy exactly, loss/MAE/MSE within {recipe.dtype} tolerance "
          "of compare/engine/tolerances.py); param err = max|manual - torch| / max|torch| over the final parameters")
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump({"dataset": dataset.name, "scheme": scheme, "recipe": asdict(recipe),
                       "folds": [asdict(r) for r in results]}, f, indent=1)
    return 0 if agreed == len(results) else 1
