"""`python -m compare train --dataset digits --model mlp --optimizer adam ...`: both backends, epoch by epoch.

One hold-out split (stratified for classification, --test-size of the rows for testing); both twins train on
identical mini-batches (compare/realdata/training.py). Before training it prints the model's summary (manual.summary,
asserted equal to torch_ref.summary by compare.checks.inspection); then per epoch the mean training loss and
the test metrics of each backend and their difference. Exit status 0 when the final test metrics agree
(accuracy exactly, loss/MAE/MSE within the dtype's tolerance).

`--model gpt` trains the character-level GPT on the shipped text instead (compare/realdata/text.py: contiguous
training and test parts, windows of --block-size characters), with AdamW by default; --model-arg sets its size
(n_embd=, n_head=, n_layer=, bias=). Options that mean nothing there (--dataset, --limit, --loss, --hidden,
--activation) are refused.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import manual
from compare.cli import arguments, render
from compare.cli.arguments import UsageError
from compare.cli.cv import METRICS
from compare.cli.recipe_args import (
    TEXT_MODELS,
    add_recipe_arguments,
    built_or_refused,
    dataset_from_args,
    optimizer_name,
    recipe_from_args,
    split_or_refuse,
)
from manual.data import holdout_split

if TYPE_CHECKING:  # (imported where they run: the options alone need no torch)
    from compare.realdata.training import Recipe, Split, TwinTrainer

NOT_FOR_TEXT = ("dataset", "limit", "loss", "hidden", "activation")  # options `--model gpt` refuses when changed
DEFAULTS: dict = {}  # the parser's defaults of NOT_FOR_TEXT and --block-size (filled by add_arguments)


def add_arguments(parser) -> None:
    add_recipe_arguments(parser)
    parser.add_argument("--test-size", type=arguments.fraction, default=0.2,
                        help="share of the rows held out (default 0.2; of the text's characters for gpt)")
    parser.add_argument("--block-size", type=arguments.int_in(1), default=32, metavar="T",
                        help="gpt: characters per window, the model's block_size (default 32)")
    DEFAULTS.update((name, parser.get_default(name)) for name in (*NOT_FOR_TEXT, "block_size"))


def text_recipe(args) -> tuple[Recipe, Split]:
    """(recipe, split) of `train --model gpt`, refused (UsageError) where an option means nothing for it or the
    model cannot be built."""
    from compare.realdata.text import text_split, vocabulary
    from compare.realdata.training import Recipe

    changed = [name for name in NOT_FOR_TEXT if getattr(args, name) != DEFAULTS[name]]
    if changed:
        raise UsageError(f"--model {args.model} trains on the shipped text; "
                         f"{', '.join('--' + name for name in changed)} cannot apply")
    arguments.require_device(args.device)
    split = split_or_refuse(lambda: text_split(args.block_size, max(1, args.block_size // 4), args.test_size))
    optimizer = optimizer_name(args.optimizer or "adamw")
    options = {"lr": args.lr, "momentum": args.momentum, "weight_decay": args.weight_decay}
    model = ("GPT", {"vocab_size": len(vocabulary()), "block_size": args.block_size, **dict(args.model_arg)})
    recipe = Recipe(model=model, loss=("CrossEntropyLoss", {}),
                    optimizer=(optimizer, {k: v for k, v in options.items() if v is not None}), epochs=args.epochs,
                    batch_size=args.batch_size, dtype=args.dtype, device=args.device, seed=args.seed)
    return built_or_refused(recipe, args.threads), split


def main(args) -> int:
    from compare.realdata.training import TwinTrainer, prepare_split

    if args.model in TEXT_MODELS:
        recipe, split = text_recipe(args)
        trainer = TwinTrainer(recipe, split)
        print(f"tiny_text.txt (next character): {len(split.y_train)} training windows, {len(split.y_test)} test "
              f"windows of {args.block_size} characters")
        return report(trainer, recipe, split)
    if args.block_size != DEFAULTS["block_size"]:
        raise UsageError("--block-size applies to --model gpt only")
    dataset = dataset_from_args(args, 2, "a stratified hold-out split")
    train_idx, test_idx = split_or_refuse(lambda: holdout_split(
        len(dataset.y), args.test_size, seed=args.seed, stratify=dataset.y if dataset.is_classification else None))
    recipe = recipe_from_args(args, dataset)
    split = prepare_split(dataset, train_idx, test_idx, recipe.loss[0], recipe.dtype)
    trainer = TwinTrainer(recipe, split)  # asserts the twins' summaries are equal
    print(f"{dataset.name} ({dataset.task}): {len(train_idx)} training rows, {len(test_idx)} test rows")
    return report(trainer, recipe, split)


def report(trainer: TwinTrainer, recipe: Recipe, split: Split) -> int:
    """Summary, then the epochs' table, then the final agreement; the exit status."""
    from compare.realdata.training import agreement

    print(f"recipe: {recipe.describe()}")
    print(manual.summary(trainer.manual.model, trainer.batch_shape))
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
    if not agree:
        from compare.realdata.divergence import parting
        print(f"parted: {parting(recipe, split, render.Progress().update)}")
    return 0 if agree else 1
