"""manual.optim vs torch.optim, the update rule alone: the same gradients fed to both for 200 steps over a grid
of every option, every parameter and state tensor compared at every step; plus two steps computed by hand per
rule, the state_dict layout, hyperparameter checks and the float32 op emulation."""
import inspect
import math

import numpy as np
import pytest
import torch

import manual.nn as mnn
import manual.optim
from compare.checks.update_rule import optimizer_pair, params_of, run_update_rule
from compare.engine.comparison import compare_arrays
from compare.engine.kernels import torch_fuses_multiply_add
from compare.engine.tolerances import one_rounding_of, update_rule_tolerance_for
from compare.engine.twins import to_numpy
from manual.optim import _ops
from manual.optim.optimizer import IMPLEMENTATION_FLAGS

# Each flag on and off, and non-default values. Every run also has a second param group overriding lr and
# weight_decay, and a parameter whose grad is None every third step (compare/checks/update_rule.py).
GRID = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "nesterov": True, "weight_decay": 1e-2, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.05, "maximize": True, "lr_decay": 1e-3, "weight_decay": 1e-2}),
    ("RMSprop", {}),
    ("RMSprop", {"alpha": 0.9, "eps": 1e-3}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99)}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.6)}),  # 1 - beta1 >= 0.5: torch's lerp takes its other branch
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": 0.1, "eps": 1e-3}),
    ("Adam", {"maximize": True, "amsgrad": True, "weight_decay": 1e-2}),
    ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"weight_decay": 0.0, "maximize": True, "betas": (0.5, 0.9)}),
    # torch's implementation flags at the values manual accepts: torch runs its multi-tensor (foreach) path here
    ("SGD", {"lr": 0.1, "momentum": 0.9, "foreach": True, "fused": False, "differentiable": False}),
    ("Adagrad", {"foreach": True, "fused": None}),
    ("RMSprop", {"momentum": 0.9, "foreach": True, "capturable": False}),
    ("Adam", {"amsgrad": True, "foreach": True, "fused": False, "capturable": False, "differentiable": False}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", GRID, ids=[f"{n}-{k}" for n, k in GRID])
@pytest.mark.heavy  # 56 runs of 200 steps: seconds in all
def test_update_rule_matches_torch_for_200_steps(name, kwargs, dtype):
    errors = run_update_rule(name, kwargs, dtype)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{name}({kwargs}) [{dtype}]: {len(failing)} mismatches, first: {failing[0]}"


# -- two steps by hand, from the docstring formulas, on a scalar: p0 = 1, g1 = 0.5, g2 = -1 ---------------------
def sgd_by_hand(p, g1, g2, lr=0.1, mu=0.9, tau=0.5, wd=0.1):
    d1 = g1 + wd * p
    b = d1                                   # first step: the buffer is the gradient, no (1 - tau)
    p1 = p - lr * b
    d2 = g2 + wd * p1
    b = mu * b + (1 - tau) * d2
    return p1, p1 - lr * b


def sgd_nesterov_by_hand(p, g1, g2, lr=0.1, mu=0.9):
    b = g1
    p1 = p - lr * (g1 + mu * b)
    b = mu * b + g2
    return p1, p1 - lr * (g2 + mu * b)


def adagrad_by_hand(p, g1, g2, lr=0.1, decay=0.5, wd=0.1, tau=0.25, eps=1e-10):
    total, points = tau, []
    for t, g in ((1, g1), (2, g2)):
        g = g + wd * p
        total = total + g * g
        p = p - lr / (1 + (t - 1) * decay) * g / (math.sqrt(total) + eps)
        points.append(p)
    return tuple(points)


def rmsprop_by_hand(p, g1, g2, lr=0.01, alpha=0.9, eps=1e-8, wd=0.1, mu=0.5):
    v = m = b = 0.0
    points = []
    for g in (g1, g2):
        g = g + wd * p
        v = alpha * v + (1 - alpha) * g * g
        m = m + (1 - alpha) * (g - m)        # alpha·m + (1 - alpha)·g, in torch's lerp form
        b = mu * b + g / (math.sqrt(v - m * m) + eps)
        p = p - lr * b
        points.append(p)
    return tuple(points)


def adam_by_hand(p, g1, g2, lr=0.1, beta1=0.8, beta2=0.9, eps=1e-8, wd=0.1, decoupled=False):
    m = v = v_max = 0.0
    points = []
    for t, g in ((1, g1), (2, g2)):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = m + (1 - beta1) * (g - m)        # beta1·m + (1 - beta1)·g, in torch's lerp form
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)
        p = p - lr / (1 - beta1 ** t) * m / (math.sqrt(v_max) / (1 - beta2 ** t) ** 0.5 + eps)
        points.append(p)
    return tuple(points)


HAND = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}, sgd_by_hand),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, sgd_nesterov_by_hand),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.1, "initial_accumulator_value": 0.25}, adagrad_by_hand),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5, "centered": True}, rmsprop_by_hand),
    ("Adam", {"lr": 0.1, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True}, adam_by_hand),
    ("AdamW", {"lr": 0.1, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True},
     lambda p, g1, g2: adam_by_hand(p, g1, g2, decoupled=True)),
]


@pytest.mark.parametrize("name, kwargs, by_hand", HAND, ids=[f"{n}-{k}" for n, k, _ in HAND])
def test_two_steps_computed_by_hand(name, kwargs, by_hand):
    """Exact in float64 (the code rounds as the formula is written); torch within the update-rule tolerance."""
    p0, grads = 1.0, (0.5, -1.0)  # Adam/AdamW: v shrinks at step 2, so amsgrad's max matters
    expected = by_hand(p0, *grads)
    manual_param = mnn.Parameter(np.array([p0]))
    torch_param = torch.nn.Parameter(torch.tensor([p0], dtype=torch.float64))
    manual_opt = getattr(manual.optim, name)([manual_param], **kwargs)
    torch_opt = getattr(torch.optim, name)([torch_param], **kwargs)
    for g, value in zip(grads, expected, strict=True):
        manual_param.grad, torch_param.grad = np.array([g]), torch.tensor([g], dtype=torch.float64)
        manual_opt.step()
        torch_opt.step()
        assert manual_param.data[0] == value, f"{name}: manual {manual_param.data[0]!r}, by hand {value!r}"
        error = compare_arrays(0, name, [value], torch_param.detach().numpy(), update_rule_tolerance_for("float64"))
        assert error.passed, error.describe()


# -- state_dict layout and hyperparameter checks ----------------------------------------------------------------
ALL_STATE = [("SGD", {"momentum": 0.9}), ("Adagrad", {}), ("RMSprop", {"momentum": 0.9, "centered": True}),
             ("Adam", {"amsgrad": True}), ("AdamW", {"amsgrad": True})]


@pytest.mark.parametrize("name, kwargs", ALL_STATE, ids=[n for n, _ in ALL_STATE])
def test_state_dict_layout_matches_torch(name, kwargs):
    manual_opt, torch_opt = optimizer_pair(name, kwargs, "float32", np.random.default_rng(0))
    for _ in range(2):  # before the first step (Adagrad's state exists already) and after it
        manual_sd, torch_sd = manual_opt.state_dict(), to_numpy(torch_opt.state_dict())
        assert manual_sd["state"].keys() == torch_sd["state"].keys()
        for index, state in torch_sd["state"].items():
            assert manual_sd["state"][index].keys() == state.keys()
            for key, value in state.items():
                assert manual_sd["state"][index][key].dtype == value.dtype, (index, key)
                assert manual_sd["state"][index][key].shape == value.shape, (index, key)
        for manual_group, torch_group in zip(manual_sd["param_groups"], torch_sd["param_groups"], strict=True):
            assert list(manual_group) == list(torch_group)  # torch's flags (foreach, fused, ...) too, in its order
            assert manual_group["params"] == torch_group["params"]
            assert {k: v for k, v in manual_group.items()} == {k: torch_group[k] for k in manual_group}
        for p in params_of(manual_opt) + params_of(torch_opt):
            p.grad = np.ones(p.shape, np.float32) if isinstance(p, mnn.Parameter) else torch.ones_like(p)
        manual_opt.step()
        torch_opt.step()


NAMES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]


@pytest.mark.parametrize("name", NAMES)
def test_constructor_signature_matches_torch(name):
    """The same arguments, in torch's order, of torch's kinds (positional or keyword-only) and defaults: each
    implementation flag exactly where torch's twin takes it (SGD takes no `capturable`, RMSprop no `fused`)."""
    def signature(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]
    assert signature(getattr(manual.optim, name)) == signature(getattr(torch.optim, name))


# (optimizer, flag, value) for every flag each torch twin takes, at None/True/False
FLAGS = [(name, flag, value) for name in NAMES for flag in IMPLEMENTATION_FLAGS
         if flag in inspect.signature(getattr(torch.optim, name)).parameters for value in (None, True, False)]


@pytest.mark.parametrize("name, flag, value", FLAGS, ids=[f"{n}-{f}={v}" for n, f, v in FLAGS])
def test_implementation_flags_accepted_or_refused_in_one_line(name, flag, value):
    accepted = value in IMPLEMENTATION_FLAGS[flag][0]
    build = getattr(manual.optim, name)
    if not accepted:
        with pytest.raises(NotImplementedError, match=rf"^{name}\({flag}={value}\): [^\n]*\(expected {flag}=[^\n]*\)$"):
            build([mnn.Parameter(np.zeros(2))], **{flag: value})
        return
    manual_opt = build([mnn.Parameter(np.zeros(2))], **{flag: value})
    torch_opt = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **{flag: value})
    assert manual_opt.state_dict()["param_groups"] == torch_opt.state_dict()["param_groups"]


def test_a_refused_flag_changes_nothing_wherever_it_comes_from():
    """A param group added with it, or a torch state_dict holding it (fused=True): refused before anything
    changes; a value that is not None/True/False is a ValueError."""
    with pytest.raises(ValueError, match=r"^Adam\(foreach='yes'\): expected foreach=None or True or False$"):
        manual.optim.Adam([mnn.Parameter(np.zeros(2))], foreach="yes")
    manual_opt = manual.optim.Adam([mnn.Parameter(np.zeros(2))])
    before = manual_opt.state_dict()
    with pytest.raises(NotImplementedError, match=r"^Adam\(differentiable=True\): "):
        manual_opt.add_param_group({"params": [mnn.Parameter(np.zeros(1))], "differentiable": True})
    torch_param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    torch_opt = torch.optim.Adam([torch_param], fused=True)
    torch_param.grad = torch.ones_like(torch_param)
    torch_opt.step()
    with pytest.raises(NotImplementedError, match=r"^Adam\(fused=True\): fused kernels are CUDA/torch-only"):
        manual_opt.load_state_dict(to_numpy(torch_opt.state_dict()))
    assert manual_opt.state_dict() == before


INVALID = [  # (optimizer, arguments, the argument named in the error), each rejected by torch too
    ("SGD", {"lr": -0.1}, "lr"),
    ("SGD", {"momentum": -0.5}, "momentum"),
    ("SGD", {"weight_decay": -1.0}, "weight_decay"),
    ("SGD", {"nesterov": True}, "nesterov"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    ("Adagrad", {"lr_decay": -1.0}, "lr_decay"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ("Adagrad", {"eps": -1.0}, "eps"),
    ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("RMSprop", {"momentum": -1.0}, "momentum"),
    ("RMSprop", {"eps": -1.0}, "eps"),
    ("Adam", {"betas": (1.0, 0.999)}, "betas"),
    ("Adam", {"betas": (0.9, -0.1)}, "betas"),
    ("Adam", {"eps": -1.0}, "eps"),
    ("Adam", {"lr": float("nan")}, "lr"),
    ("AdamW", {"weight_decay": -0.1}, "weight_decay"),
]


@pytest.mark.parametrize("name, kwargs, argument", INVALID, ids=[f"{n}-{k}" for n, k, _ in INVALID])
def test_invalid_hyperparameters_raise_like_torch(name, kwargs, argument):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    with pytest.raises(ValueError, match=rf"^{name}: invalid {argument}=.*expected"):
        getattr(manual.optim, name)([mnn.Parameter(np.zeros(2))], **kwargs)


def test_param_groups_are_checked_too_and_must_not_share_parameters():
    """Stricter than torch, which checks only the constructor's arguments: a group's own lr is checked too."""
    a, b = mnn.Parameter(np.zeros(2)), mnn.Parameter(np.zeros(3))
    optimizer = manual.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: invalid lr=-1\.0, expected lr >= 0"):
        optimizer.add_param_group({"params": [b], "lr": -1.0})
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [a]})
    optimizer.add_param_group({"params": b, "lr": 0.5})
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5] and optimizer.param_groups[1]["momentum"] == 0


def test_adagrad_group_added_later_starts_from_the_constructors_accumulator():
    """torch's quirk, mirrored: a later group's own initial_accumulator_value is ignored."""
    sums = []
    for optim, make in ((manual.optim, lambda: mnn.Parameter(np.zeros(2))),
                        (torch.optim, lambda: torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)))):
        first, later = make(), make()
        optimizer = optim.Adagrad([first], initial_accumulator_value=0.5)
        optimizer.add_param_group({"params": [later], "initial_accumulator_value": 5.0})
        later.grad = np.ones(2) if optim is manual.optim else torch.ones(2, dtype=torch.float64)
        optimizer.step()
        sums.append(np.asarray(to_numpy(optimizer.state_dict())["state"][1]["sum"]))
    np.testing.assert_array_equal(sums[0], sums[1])
    np.testing.assert_array_equal(sums[0], [1.5, 1.5])


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_and_step_closure_like_torch(set_to_none):
    param = mnn.Parameter(np.ones(3))
    optimizer = manual.optim.Adam([param])
    param.grad = np.ones(3)
    assert optimizer.step(closure=lambda: 1.5) == 1.5
    optimizer.zero_grad(set_to_none=set_to_none)
    assert param.grad is None if set_to_none else np.array_equal(param.grad, np.zeros(3))


# -- the float32 emulation of torch's fused ops ---------------------------------------------------------------
OPS = [
    ("add", lambda a, b, c: _ops.add(a, b, alpha=0.3), lambda a, b, c: a.add(b, alpha=0.3)),
    ("addcmul", lambda a, b, c: _ops.addcmul(a, b, c, value=-0.7), lambda a, b, c: a.addcmul(b, c, value=-0.7)),
    ("addcdiv", lambda a, b, c: _ops.addcdiv(a, b, c, value=0.01), lambda a, b, c: a.addcdiv(b, c, value=0.01)),
    ("lerp-small-weight", lambda a, b, c: _ops.lerp(a, b, 0.1), lambda a, b, c: a.lerp(b, 0.1)),
    ("lerp-large-weight", lambda a, b, c: _ops.lerp(a, b, 0.999), lambda a, b, c: a.lerp(b, 0.999)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, manual_op, torch_op", OPS, ids=[n for n, _, _ in OPS])
def test_fused_ops_round_like_torch(name, manual_op, torch_op, dtype):
    """float32: bit for bit (emulated fma) where torch's kernels fuse, within one rounding of a term where they
    do not (ATEN_CPU_CAPABILITY=default). float64: NumPy has no fma (an ulp of the terms apart where they
    cancel), so within the update-rule tolerance."""
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(10_001).astype(dtype) for _ in range(3))
    c = np.abs(c) + 0.1
    result = manual_op(a, b, c)
    expected = torch_op(*map(torch.from_numpy, (a, b, c))).numpy()
    assert result.dtype == np.dtype(dtype)
    if dtype == "float32" and torch_fuses_multiply_add():
        np.testing.assert_array_equal(result, expected, err_msg=name)
    elif dtype == "float32":  # torch's baseline kernels round the product too, where manual emulates the fused
        # rounding; the terms are a, s·b and s·b·c, each at most |a| + |b|·(1 + |c|) here (|s| < 1)
        terms = np.abs(a) + np.abs(b) * (1 + np.abs(c))
        assert np.all(np.abs(result.astype(np.float64) - expected) <= one_rounding_of(terms, np.float32)), name
    else:
        assert compare_arrays(0, name, result, expected, update_rule_tolerance_for(dtype)).passed
