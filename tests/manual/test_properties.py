"""Property tests: random shapes, dtypes and hyperparameters for every layer, loss and optimizer, against torch.

Each test draws a module (or loss, or optimizer) spec and its inputs, and hands them to the same checks as the
catalogues (compare/checks/module_check.py, compare/checks/update_rule.py), with the tolerances of compare/engine/tolerances.py.
The number of examples comes from the hypothesis profile in tests/conftest.py ("ci": 25 per test, derandomized).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compare.catalogue.case_types import ModuleCase
from compare.catalogue.inputs import (
    batch_norm_state,
    binary,
    class_probabilities,
    log_probabilities,
    normal,
    probabilities,
    uniform,
)
from compare.checks.module_check import check_module_case
from compare.checks.update_rule import run_update_rule

DTYPES = st.sampled_from(["float32", "float64"])
SEEDS = st.integers(0, 2**16)
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])
SIZE = st.integers(1, 5)


def assert_matches_torch(case, dtype, seed):
    errors = check_module_case(case, dtype, seed)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{case.module} [{dtype}, seed {seed}]: " + "; ".join(failing)


def shapes(min_dims=1, max_dims=3, last=SIZE):
    return st.tuples(st.lists(SIZE, min_size=min_dims - 1, max_size=max_dims - 1), last).map(
        lambda parts: (*parts[0], parts[1]))


def positive(low, high):
    return st.floats(low, high, allow_nan=False)


# -- layers ----------------------------------------------------------------------------------------------
ELEMENTWISE = st.one_of(
    st.sampled_from([("Identity", {}), ("ReLU", {}), ("SELU", {}), ("SiLU", {}), ("Sigmoid", {}), ("Tanh", {}),
                     ("GELU", {}), ("GELU", {"approximate": "tanh"})]),
    st.builds(lambda s: ("LeakyReLU", {"negative_slope": s}), positive(0.0, 1.0)),
    st.builds(lambda a: ("ELU", {"alpha": a}), positive(0.1, 3.0)),
    st.builds(lambda b, t: ("Softplus", {"beta": b, "threshold": t}), positive(0.5, 3.0), positive(1.0, 30.0)))


@given(ELEMENTWISE, shapes(), st.sampled_from([0.1, 1.0, 5.0]), DTYPES, SEEDS)
def test_activations(module, shape, scale, dtype, seed):
    assert_matches_torch(ModuleCase("activation", module, normal(*shape, scale=scale)), dtype, seed)


@given(st.data(), st.sampled_from(["Softmax", "LogSoftmax"]), shapes(), DTYPES, SEEDS)
def test_softmax(data, name, shape, dtype, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert_matches_torch(ModuleCase("softmax", (name, {"dim": dim}), normal(*shape, scale=3.0)), dtype, seed)


@given(SIZE, SIZE, st.booleans(), shapes(max_dims=3), DTYPES, SEEDS)
def test_linear(in_features, out_features, bias, shape, dtype, seed):
    module = ("Linear", {"in_features": in_features, "out_features": out_features, "bias": bias})
    assert_matches_torch(ModuleCase("linear", module, normal(*shape[:-1], in_features)), dtype, seed)


@given(SIZE, SIZE, st.integers(1, 4), st.booleans(), shapes(max_dims=3), DTYPES, SEEDS)
def test_maxout(in_features, out_features, pieces, bias, shape, dtype, seed):
    module = ("Maxout", {"in_features": in_features, "out_features": out_features, "pieces": pieces, "bias": bias})
    assert_matches_torch(ModuleCase("maxout", module, normal(*shape[:-1], in_features)), dtype, seed)


def batch_norm_state_of(channels, affine, tracked):
    """Random γ, β and running statistics, for those the module has."""
    full = batch_norm_state(channels, tracked=tracked, batches=3)
    kept = ("weight", "bias") * affine + ("running_mean", "running_var", "num_batches_tracked") * tracked
    return lambda rng: {key: value for key, value in full(rng).items() if key in kept}


@given(st.integers(3, 8), SIZE, st.sampled_from([(), (1,), (4,)]), positive(1e-5, 0.1),
       st.one_of(st.none(), positive(0.01, 0.9)), st.booleans(), st.booleans(), st.booleans(), DTYPES, SEEDS)
def test_batch_norm(batch, channels, length, eps, momentum, affine, tracked, train, dtype, seed):
    module = ("BatchNorm1d", {"num_features": channels, "eps": eps, "momentum": momentum, "affine": affine,
                              "track_running_stats": tracked})
    case = ModuleCase("batchnorm", module, normal(batch, channels, *length, scale=2.0), train=train,
                      state=batch_norm_state_of(channels, affine, tracked))
    assert_matches_torch(case, dtype, seed)


@given(positive(0.0, 1.0), st.booleans(), shapes(), DTYPES, SEEDS)
def test_dropout(p, train, shape, dtype, seed):
    assert_matches_torch(ModuleCase("dropout", ("Dropout", {"p": p}), normal(*shape), train=train), dtype, seed)


@given(st.data(), shapes(min_dims=2, max_dims=4), DTYPES, SEEDS)
def test_flatten(data, shape, dtype, seed):
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1)) - data.draw(st.sampled_from([0, len(shape)]))
    case = ModuleCase("flatten", ("Flatten", {"start_dim": start, "end_dim": end}), normal(*shape))
    assert_matches_torch(case, dtype, seed)


# -- losses ----------------------------------------------------------------------------------------------
REGRESSION_LOSSES = st.one_of(
    st.sampled_from([("L1Loss", {}), ("MSELoss", {})]),
    st.builds(lambda d: ("HuberLoss", {"delta": d}), positive(0.1, 3.0)),
    st.builds(lambda b: ("SmoothL1Loss", {"beta": b}), positive(0.0, 3.0)))


# β drawn tiny or subnormal: the branch np.where does not pick overflows (or divides by zero), harmlessly
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:divide by zero:RuntimeWarning")
@given(REGRESSION_LOSSES, REDUCTIONS, shapes(), DTYPES, SEEDS)
def test_regression_losses(loss, reduction, shape, dtype, seed):
    name, kwargs = loss
    case = ModuleCase("regression", (name, {**kwargs, "reduction": reduction}), normal(*shape, scale=2.0),
                      normal(*shape))
    assert_matches_torch(case, dtype, seed)


@given(st.data(), st.booleans(), REDUCTIONS, shapes(), st.booleans(), DTYPES, SEEDS)
def test_binary_cross_entropy(data, logits, reduction, shape, soft, dtype, seed):
    weight = data.draw(st.one_of(st.none(), st.just(shape), st.just(shape[-1:])))
    kwargs = {"reduction": reduction}
    if weight is not None:
        kwargs["weight"] = np.random.default_rng(seed).uniform(0.1, 2.0, weight)
    if logits and data.draw(st.booleans()):
        kwargs["pos_weight"] = np.random.default_rng(seed + 1).uniform(0.1, 3.0, shape[-1:])
    target = uniform(*shape) if soft else binary(*shape)
    name, input = ("BCEWithLogitsLoss", normal(*shape, scale=3.0)) if logits else ("BCELoss", probabilities(*shape))
    assert_matches_torch(ModuleCase("bce", (name, kwargs), input, target), dtype, seed)


def fixed(array):
    return lambda rng: array


@given(st.data(), st.sampled_from(["NLLLoss", "CrossEntropyLoss"]), st.integers(2, 5),
       st.sampled_from([(), (4,), (3, 2)]), REDUCTIONS, st.booleans(), DTYPES, SEEDS)
def test_class_losses(data, name, classes, extra, reduction, weighted, dtype, seed):
    batch = data.draw(st.sampled_from([(), (5,)] if not extra else [(5,)]))
    shape = (*batch, classes, *extra)
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = np.random.default_rng(seed).uniform(0.1, 2.0, classes)
    probability_targets = name == "CrossEntropyLoss" and batch and data.draw(st.booleans())
    if name == "CrossEntropyLoss":
        kwargs["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    ignores_all = False
    if probability_targets:
        target = class_probabilities(*shape)
    else:
        kwargs["ignore_index"] = data.draw(st.sampled_from([-100, 0, classes - 1]))
        labels = np.random.default_rng(seed).integers(0, classes, (*batch, *extra))
        labels[np.random.default_rng(seed + 1).random(labels.shape) < 0.2] = kwargs["ignore_index"]
        target = fixed(labels)
        ignores_all = reduction == "mean" and (labels == kwargs["ignore_index"]).all()  # 0/0: NaN, as torch
    input = normal(*shape, scale=2.0) if name == "CrossEntropyLoss" else log_probabilities(*shape)
    assert_matches_torch(ModuleCase("class", (name, kwargs), input, target, finite=not ignores_all), dtype, seed)


# -- optimizers ------------------------------------------------------------------------------------------
LR = positive(1e-4, 0.5)
DECAY = st.sampled_from([0.0, 1e-3, 0.1])
EPS = st.sampled_from([1e-10, 1e-8, 1e-3])
BETA = positive(0.0, 0.999)


def sgd(lr, momentum, dampening, weight_decay, nesterov, maximize):
    nesterov = nesterov and momentum > 0
    return ("SGD", {"lr": lr, "momentum": momentum, "dampening": 0.0 if nesterov else dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize})


OPTIMIZERS = st.one_of(
    st.builds(sgd, LR, st.sampled_from([0.0, 0.5, 0.9]), positive(0.0, 0.5), DECAY, st.booleans(), st.booleans()),
    st.builds(lambda lr, lr_decay, wd, init, eps, maximize: (
        "Adagrad", {"lr": lr, "lr_decay": lr_decay, "weight_decay": wd, "initial_accumulator_value": init, "eps": eps,
                    "maximize": maximize}), LR, DECAY, DECAY, st.sampled_from([0.0, 0.1, 1.0]), EPS, st.booleans()),
    st.builds(lambda lr, alpha, eps, wd, momentum, centered, maximize: (
        "RMSprop", {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": wd, "momentum": momentum,
                    "centered": centered, "maximize": maximize}),
        positive(1e-4, 0.05), positive(0.5, 0.999), EPS, DECAY, st.sampled_from([0.0, 0.5, 0.9]), st.booleans(),
        st.booleans()),
    *[st.builds(lambda lr, b1, b2, eps, wd, amsgrad, maximize, name=name: (
        name, {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": wd, "amsgrad": amsgrad, "maximize": maximize}),
        LR, BETA, BETA, EPS, DECAY, st.booleans(), st.booleans()) for name in ("Adam", "AdamW")])


@given(OPTIMIZERS, DTYPES, SEEDS)
def test_optimizers(optimizer, dtype, seed):
    name, kwargs = optimizer
    errors = run_update_rule(name, kwargs, dtype, steps=10, seed=seed)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{name} {kwargs} [{dtype}, seed {seed}]: " + "; ".join(failing[:3])
