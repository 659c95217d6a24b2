"""The other conventions in the optimizers' docstrings drift from torch, and the update-rule check catches each:
the same 200 gradient steps as tests/manual/test_optim.py, with manual's update replaced by the textbook variant.
(This is also the proof that the update-rule check can fail.)"""
import numpy as np
import pytest

from compare.checks.update_rule import run_update_rule
from manual.optim.optimizer import new_step


def _zeros(state, param, *names):
    for name in names:
        state.setdefault(name, np.zeros_like(param.data))


def sgd_damp_first(param, state, group):
    """b_1 = (1 - τ)·g_1: dampening applied on the first step too."""
    g = param.grad + group["weight_decay"] * param.data
    buffer = state.get("momentum_buffer")
    state["momentum_buffer"] = (0 if buffer is None else group["momentum"] * buffer) + (1 - group["dampening"]) * g
    param.data -= group["lr"] * state["momentum_buffer"]


def adagrad(eps_inside=False, decay_from_first=False):
    def update(param, state, group):
        state["step"] += 1
        t = float(state["step"])
        g = param.grad + group["weight_decay"] * param.data
        state["sum"] += g * g
        lr = group["lr"] / (1 + (t if decay_from_first else t - 1) * group["lr_decay"])
        root = np.sqrt(state["sum"] + group["eps"]) if eps_inside else np.sqrt(state["sum"]) + group["eps"]
        param.data -= lr * g / root
    return update


def rmsprop_eps_inside(param, state, group):
    state.setdefault("step", new_step())
    _zeros(state, param, "square_avg")
    g = param.grad + group["weight_decay"] * param.data
    state["square_avg"][...] = group["alpha"] * state["square_avg"] + (1 - group["alpha"]) * g * g
    param.data -= group["lr"] * g / np.sqrt(state["square_avg"] + group["eps"])


def adam(form):
    def update(param, state, group):
        state.setdefault("step", new_step())
        _zeros(state, param, "exp_avg", "exp_avg_sq")
        state["step"] += 1
        t, (beta1, beta2), lr, eps = float(state["step"]), group["betas"], group["lr"], group["eps"]
        decoupled = form == "decay_after_update"
        g = param.grad if decoupled else param.grad + group["weight_decay"] * param.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        if form == "folded":
            param.data -= lr * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t) * m / (np.sqrt(v) + eps)
        elif form == "eps_inside":
            param.data -= lr * m_hat / np.sqrt(v_hat + eps)
        elif form == "no_bias_correction":
            param.data -= lr * m / (np.sqrt(v) + eps)
        elif form == "decay_after_update":
            param.data[...] = (param.data - lr * m_hat / (np.sqrt(v_hat) + eps)) * (1 - lr * group["weight_decay"])
    return update


# (convention, torch optimizer and arguments, manual's update replaced by the convention); eps = 1e-3 where its
# placement is the point, so the drift is visible at a glance (it is caught at any eps)
CONVENTIONS = [
    ("SGD dampening on the first step", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, sgd_damp_first),
    ("Adagrad eps inside the root", "Adagrad", {"lr": 0.1, "eps": 1e-3}, adagrad(eps_inside=True)),
    ("Adagrad lr decay from the first step", "Adagrad", {"lr": 0.1, "lr_decay": 0.01},
     adagrad(decay_from_first=True)),
    ("RMSprop eps inside the root", "RMSprop", {"eps": 1e-3}, rmsprop_eps_inside),
    ("Adam bias correction folded into lr", "Adam", {"lr": 0.01, "eps": 1e-3}, adam("folded")),
    ("Adam eps inside the root", "Adam", {"lr": 0.01, "eps": 1e-3}, adam("eps_inside")),
    ("Adam without bias correction", "Adam", {"lr": 0.01}, adam("no_bias_correction")),
    ("AdamW decay after the update", "AdamW", {"lr": 0.01, "weight_decay": 0.1}, adam("decay_after_update")),
]


@pytest.mark.parametrize("convention, name, kwargs, update", CONVENTIONS, ids=[c[0] for c in CONVENTIONS])
def test_documented_convention_drifts_from_torch(convention, name, kwargs, update):
    errors = run_update_rule(name, kwargs, "float64", manual_update=update)
    first = next((e for e in errors if not e.passed), None)
    assert first is not None, f"{convention}: indistinguishable from torch's rule"
    worst = max((e for e in errors if e.name.startswith("param")), key=lambda e: e.max_rel)
    assert worst.max_rel > 1e-6, f"{convention}: drifts by only {worst.max_rel:.1e}"
