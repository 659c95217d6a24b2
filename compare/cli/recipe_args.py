"""The command-line options shared by `cv` and `train`, and the Recipe they describe.

Names are resolved, never translated: `--model mlp` is `MLP` in manual.models and torch_ref.models,
`--loss CrossEntropyLoss` in manual.nn and torch.nn, `--optimizer adam` is `Adam` in manual.optim and
torch.optim (case-insensitive). A name that one backend lacks is refused with the names it has.
Everything is checked before any training (compare/cli/arguments.py): counts and shares by their `type=`, the
dataset's size against the split it must feed (`dataset_from_args`), and the recipe by building its twins once
(`recipe_from_args`), so a constructor argument either backend refuses is reported in one line, exit status 2.
torch and the twins are imported where a name is resolved or the recipe built: the options alone (`cv --help`, a
refused option) need neither (1 s).
"""
from __future__ import annotations

import argparse
import ast
import inspect
import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

import manual.models
import manual.nn
import manual.optim
from compare.catalogue.case_types import Case
from compare.cli import arguments
from compare.cli.arguments import UsageError
from compare.realdata import datasets
from compare.realdata.datasets import DATASETS, Dataset

if TYPE_CHECKING:
    from compare.realdata.training import Recipe

# --model -> (class name, its keyword arguments from (in_features, outputs, args))
MODELS = {
    "mlp": ("MLP", lambda d, k, a: {"in_features": d, "hidden": a.hidden, "out_features": k,
                                    "activation": a.activation}),
    "linear": ("LinearRegression", lambda d, k, a: {"in_features": d, "out_features": k}),
    "softmax": ("SoftmaxRegression", lambda d, k, a: {"in_features": d, "num_classes": k}),
    "logreg": ("LogisticRegression", lambda d, k, a: {"in_features": d}),
    "cnn": ("CNN", lambda d, k, a: {"in_channels": d[0], "image_size": tuple(d[1:]), "num_classes": k}),
}
TEXT_MODELS = ("gpt",)  # they read the shipped text: `train --model gpt` (compare/cli/train.py), not `cv`
IMAGE_MODELS = ("cnn",)  # they read images: dataset_from_args gives square one-channel images (N, 1, side, side)
# task -> (default --model, default --loss)
TASK_DEFAULTS = {"classification": ("mlp", "CrossEntropyLoss"), "binary": ("logreg", "BCEWithLogitsLoss"),
                 "regression": ("mlp", "MSELoss")}
DEFAULT_LR = {"SGD": 0.05}  # torch's SGD default (1e-3) is too small for a few epochs; others keep their own


def _hidden(text: str) -> list[int]:
    """Comma-separated positive widths ("" for no hidden layer)."""
    width = arguments.positive_int
    return [width(part.strip()) for part in text.split(",") if part.strip()]


def _model_arg(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE a Python literal (2, True, [8, 8]) or else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=sorted(DATASETS), help="default digits")
    parser.add_argument("--model", choices=sorted([*MODELS, *TEXT_MODELS]),
                        help="default: mlp (logreg for breast_cancer); gpt trains on the shipped text (train only)")
    parser.add_argument("--hidden", type=_hidden, default=[64], metavar="W[,W...]", help="MLP widths (default 64)")
    parser.add_argument("--activation", default="relu", type=arguments.name("an activation name"),
                        help="MLP activation by name (default relu)")
    parser.add_argument("--model-arg", type=_model_arg, action="append", default=[], metavar="KEY=VALUE",
                        help="extra model constructor argument, e.g. batch_norm=True or pieces=2 (repeatable)")
    parser.add_argument("--loss", type=arguments.name("a loss class name"),
                        help="loss class name in manual.nn and torch.nn (default: CrossEntropyLoss, BCEWithLogitsLoss "
                             "for breast_cancer, MSELoss for diabetes)")
    parser.add_argument("--optimizer", type=arguments.name("an optimizer name"),
                        help="optimizer in manual.optim and torch.optim (default adam; adamw for gpt)")
    parser.add_argument("--lr", type=arguments.nonnegative_float,
                        help="learning rate (default: 0.05 for sgd, the optimizer's own otherwise)")
    parser.add_argument("--momentum", type=arguments.nonnegative_float, help="passed to the optimizer when given")
    parser.add_argument("--weight-decay", type=arguments.nonnegative_float, help="passed to the optimizer when given")
    parser.add_argument("--epochs", type=arguments.positive_int, default=20)
    parser.add_argument("--batch-size", type=arguments.positive_int, default=32)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="default float64: both backends then agree to float64 tolerance, accuracies exactly")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="the torch twin's device")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--limit", type=arguments.int_in(2), metavar="N",
                        help="use N samples (stratified) of the dataset")
    parser.add_argument("--threads", type=arguments.threads(allow_default=True), default=1,
                        help="torch CPU threads (default 1: fastest for these small models, and steady on a busy "
                             "machine, where torch's default multi-threading was measured up to 40x slower; "
                             "0 keeps torch's default)")


def optimizer_name(name: str) -> str:
    import torch

    manual_names = {n.lower(): n for n, cls in vars(manual.optim).items() if inspect.isclass(cls)
                    and issubclass(cls, manual.optim.Optimizer) and cls is not manual.optim.Optimizer}
    if name.lower() not in manual_names:
        raise UsageError(f"--optimizer {name}: manual.optim has no such optimizer "
                         f"(available: {', '.join(sorted(n.lower() for n in manual_names.values()))})")
    resolved = manual_names[name.lower()]
    if not hasattr(torch.optim, resolved):
        raise UsageError(f"--optimizer {name}: torch.optim has no {resolved}")
    return resolved


def _require(option: str, kind: str, name: str) -> None:
    from compare.engine.twins import classes

    try:
        classes(kind, name)
    except LookupError as error:
        raise UsageError(f"{option} {error}") from None


def dataset_from_args(args, per_class: int, needed_by: str) -> Dataset:
    """The dataset `--dataset` names, cut to `--limit` samples (stratified) when given. A classification set
    that keeps fewer than `per_class` samples of a class is refused: the split `needed_by` describes would
    train or test without that class."""
    if getattr(args, "model", None) in TEXT_MODELS:
        raise UsageError(f"--model {args.model} trains on the shipped text: use `python -m compare train --model "
                         f"{args.model}`")
    name = args.dataset or "digits"
    try:
        full = datasets.load(name)
    except ImportError:  # scikit-learn, the [sklearn] extra, holds the datasets
        raise arguments.missing_extra("sklearn", f"--dataset {name}") from None
    dataset = datasets.subset(full, args.limit, seed=args.seed) if args.limit else full
    if dataset.is_classification:
        counts = np.bincount(dataset.y, minlength=full.n_classes or 0)
        if counts.min() < per_class:
            raise UsageError(f"{len(dataset.y)} samples of {dataset.name} leave class {int(counts.argmin())} with "
                             f"{int(counts.min())}; {needed_by} needs at least {per_class} per class (raise --limit)")
    if getattr(args, "model", None) in IMAGE_MODELS:  # (N, 1, side, side) images for a CNN
        side = math.isqrt(dataset.X.shape[1])
        if side * side != dataset.X.shape[1]:
            raise UsageError(f"--model {args.model}: {dataset.name}'s {dataset.X.shape[1]} features are not a "
                             "square image")
        dataset = replace(dataset, X=dataset.X.reshape(len(dataset.X), 1, side, side))
    return dataset


def split_or_refuse(make_split):
    """`make_split()`, with the ValueError manual.data raises for a split the rows cannot fill as a UsageError."""
    try:
        return make_split()
    except ValueError as error:
        raise UsageError(str(error)) from None


def recipe_from_args(args, dataset: Dataset) -> Recipe:
    """The recipe the options describe, built once on both backends to refuse what either one refuses; then
    torch's thread count is set (`--threads`)."""
    from compare.realdata.training import INDEX_TARGET_LOSSES, Recipe

    arguments.require_device(args.device)
    default_model, default_loss = TASK_DEFAULTS[dataset.task]
    model_key, loss_name = args.model or default_model, args.loss or default_loss
    _require("--loss", "module", loss_name)
    outputs = dataset.n_classes if loss_name in INDEX_TARGET_LOSSES else 1
    class_name, build_kwargs = MODELS[model_key]
    _require("--model", "model", class_name)
    if model_key == "logreg" and outputs != 1:
        raise UsageError(f"--model logreg has one logit; pair it with --loss BCEWithLogitsLoss, not {loss_name}")
    optimizer = optimizer_name(args.optimizer or "adam")
    options = {"lr": args.lr if args.lr is not None else DEFAULT_LR.get(optimizer), "momentum": args.momentum,
               "weight_decay": args.weight_decay}
    features = dataset.X.shape[1] if dataset.X.ndim == 2 else dataset.X.shape[1:]  # (C, H, W) for images
    model_kwargs = {**build_kwargs(features, outputs, args), **dict(args.model_arg)}
    recipe = Recipe(model=(class_name, model_kwargs), loss=(loss_name, {}),
                    optimizer=(optimizer, {k: v for k, v in options.items() if v is not None}), epochs=args.epochs,
                    batch_size=args.batch_size, dtype=args.dtype, device=args.device, seed=args.seed)
    return built_or_refused(recipe, args.threads)


def built_or_refused(recipe: Recipe, threads: int) -> Recipe:
    """`recipe`, once its twins were built (a constructor argument either backend refuses: UsageError); then
    torch's thread count is set to `threads` (0: torch's own)."""
    import torch

    from compare.engine.twins import build_twins

    try:
        build_twins(Case("recipe", recipe.model, recipe.loss, recipe.optimizer, data=None), recipe.dtype,
                    recipe.device, recipe.seed)
    # torch's MultiheadAttention asserts its arguments; a size beyond the memory: torch's RuntimeError, NumPy's
    # MemoryError
    except (TypeError, ValueError, AssertionError, RuntimeError, MemoryError) as error:
        raise UsageError(f"the recipe cannot be built: {' '.join(str(error).split())}") from None
    if threads:
        torch.set_num_threads(threads)
    return recipe
