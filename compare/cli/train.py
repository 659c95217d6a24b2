"""`python -m compare train --dataset digits --model mlp --optimizer adam ...`: both backends, epoch by epoch.

One hold-out split (stratified for classification, --test-size of the rows for testing); both twins train on
identical mini-batches (compare/realdata/training.py). Before training it prints the model's summary (manual.summary,
asserted equal to torch_ref.summary by compare.checks.inspection); then per epoch the mean training loss and
the test metrics of each backend and their difference. Exit status 0 when the final test metrics agree
(accuracy exactly, loss/MAE/MSE within the dtype's tolerance).
"""
from __future__ import annotations

import manual
from compare.cli import arguments, render
from compare.cli.cv import METRICS
from compare.cli.recipe_args import add_recipe_arguments, dataset_from_args, recipe_from_args, split_or_refuse
from compare.realdata.training import TwinTrainer, agreement, prepare_split
from manual.data import holdout_split


def add_arguments(parser) -> None:
    add_recipe_arguments(parser)
    parser.add_argument("--test-size", type=arguments.fraction, default=0.2,
                        help="share of the rows held out (default 0.2)")


def main(args) -> int:
    dataset = dataset_from_args(args, 2, "a stratified hold-out split")
    train_idx, test_idx = split_or_refuse(lambda: holdout_split(
        len(dataset.y), args.test_size, seed=args.seed, stratify=dataset.y if dataset.is_classification else None))
    recipe = recipe_from_args(args, dataset)
    split = prepare_split(dataset, train_idx, test_idx, recipe.loss[0], recipe.dtype)
    trainer = TwinTrainer(recipe, split)  # asserts the twins' summaries are equal
    print(f"{dataset.name} ({dataset.task}): {len(train_idx)} training rows, {len(test_idx)} test rows")
    print(f"recipe: {recipe.describe()}")
    print(manual.summary(trainer.manual.model, (recipe.batch_size, *split.X_train.shape[1:])))
    print("summary: manual == torch (compare.checks.inspection)\n")
    names = None
    for epoch in range(1, recipe.epochs + 1):
        train_loss = trainer.train_epoch()
        scores = trainer.evaluate()
        if names is None:
            names = list(scores["torch"])
            header = ["epoch", "train loss manual", "train loss torch", "diff"]
            for name in names:
                header += [f"test {METRICS[name][0]} manual", f"test {METRICS[name][0]} torch", "diff"]
            widths = [max(len(h), 9) for h in header]
            print(render.line(header, widths, "right"))
            print(render.rule(widths))
        row = [str(epoch), f"{train_loss['manual']:.6f}", f"{train_loss['torch']:.6f}",
               f"{train_loss['manual'] - train_loss['torch']:+.1e}"]
        for name in names:
            _, value, diff = METRICS[name]
            row += [value.format(scores["manual"][name]), value.format(scores["torch"][name]),
                    diff.format(scores["manual"][name] - scores["torch"][name])]
        print(render.line(row, widths, "right"), flush=True)
    agree = agreement(scores["manual"], scores["torch"], recipe.dtype)
    print(f"\nfinal parameters: max|manual - torch| / max|torch| = {trainer.parameter_error():.1e}; "
          f"test metrics {'agree' if agree else 'DISAGREE'} ({recipe.dtype} tolerance, compare/engine/tolerances.py)")
    print(f"time: manual {trainer.seconds['manual']:.2f} s, torch {trainer.seconds['torch']:.2f} s")
    return 0 if agree else 1
