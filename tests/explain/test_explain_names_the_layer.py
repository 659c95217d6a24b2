"""`python -m compare explain` names the layer: hand-derivation bugs injected one at a time (monkeypatched manual
methods and functions) into modules at different depths of several models are each traced to the module they
were put in, with the side that is wrong; optimizer bugs to the update rule and the state entry that differs."""
import dataclasses

import numpy as np
import pytest
import torch

import manual.nn as nn
import manual.nn.functional.activation as activation
import manual.optim.adam as adam
import manual.optim.sgd as sgd
from compare import registry
from compare.catalogue.batches import Batches, TextWindows
from compare.catalogue.case_types import Case
from compare.explain.verdict import BACKWARD, FORWARD, OPTIMIZER, explain_case
from manual import models

CE = ("CrossEntropyLoss", {})
MOMENTUM = ("SGD", {"lr": 0.1, "momentum": 0.9})
CLASSES = Batches("classification", in_features=4, targets=3, batch_size=8)
F64 = ("float64",)


def deep(activation_name, **options):
    """Linear(4,6) act Linear(6,7) act Linear(7,8) act Linear(8,9) act Linear(9,3): paths 0, 1, ..., 8
    (with layer_norm: Linear, LayerNorm, act per block)."""
    return Case(f"deep-{activation_name}", ("MLP", {"in_features": 4, "hidden": [6, 7, 8, 9], "out_features": 3,
                                                    "activation": activation_name, **options}),
                CE, MOMENTUM, CLASSES, steps=3, dtypes=F64)


CNN = Case("cnn", ("CNN", {"in_channels": 1, "image_size": 8, "num_classes": 10, "channels": (2, 3)}), CE, MOMENTUM,
           Batches("images", in_features=64, targets=10, batch_size=4, image_shape=(1, 8, 8)), steps=2, dtypes=F64)
TEXT = TextWindows(seq_len=5, batch_size=3)
CHAR_RNN = Case("charrnn", ("CharRNN", {"vocab_size": len(TEXT.vocab), "hidden_size": 8}), CE, MOMENTUM, TEXT,
                steps=2, dtypes=F64)
REGRESSION = Batches("regression", in_features=4, targets=2, batch_size=8)


def mlp_with(loss, data, optimizer=MOMENTUM, targets=3):
    return Case("mlp-" + loss[0], ("MLP", {"in_features": 4, "hidden": [5], "out_features": targets,
                                          "activation": "tanh"}), loss, optimizer, data, steps=3, dtypes=F64)


class ManualCellNet(nn.Module):
    """A recurrent cell on one step, then Linear: the cell's backward sits under the head's."""

    def __init__(self, cell: str, dtype=None):
        super().__init__()
        self.cell = getattr(nn, cell)(4, 5, dtype=dtype)
        self.head = nn.Linear(5, 3, dtype=dtype)

    def forward(self, input):
        out = self.cell(input)
        return self.head(out[0] if isinstance(out, tuple) else out)

    def backward(self, grad_output):
        return self.cell.backward(self.head.backward(grad_output))


class TorchCellNet(torch.nn.Module):
    def __init__(self, cell: str, device=None, dtype=None):
        super().__init__()
        self.cell = getattr(torch.nn, cell)(4, 5, device=device, dtype=dtype)
        self.head = torch.nn.Linear(5, 3, device=device, dtype=dtype)

    def forward(self, input):
        out = self.cell(input)
        return self.head(out[0] if isinstance(out, tuple) else out)


def cell_case(cell):
    return Case(f"{cell.lower()}net", ("CellNet", {"cell": cell}), CE, MOMENTUM, CLASSES, steps=2, dtypes=F64)


def corrupt(monkeypatch, cls, method, when, damage):
    """Replace cls.method by one that, for the instances `when(self)` picks, damages what the original did:
    `damage(self, result, *args)` returns the result to give back (it may also alter the module's grads)."""
    original = getattr(cls, method)

    def broken(self, *args):
        result = original(self, *args)
        return damage(self, result, *args) if when(self) else result

    monkeypatch.setattr(cls, method, broken)


def grad_times(name, factor, row=None):
    def damage(self, result, *args):
        grad = getattr(self, name).grad
        if row is None:
            grad *= factor
        else:
            grad[row] *= factor
        return result
    return damage


def input_times(factor):
    return lambda self, result, *args: result * factor


def width(n, attribute="in_features"):
    return lambda self: getattr(self, attribute, None) == n


def saved_width(n):  # an activation whose last forward had n features
    return lambda self: self.__dict__.get("_width") == n


def remember_width(monkeypatch, cls):
    original = cls.forward

    def forward(self, input):
        self.__dict__["_width"] = np.shape(input)[-1]
        return original(self, input)
    monkeypatch.setattr(cls, "forward", forward)


ALWAYS = lambda self: True  # noqa: E731  (a class-wide bug)


def _activation_width(cls, n, damage):
    def inject(mp):
        remember_width(mp, cls)
        corrupt(mp, cls, "backward", saved_width(n), damage)
    return inject


def _activation_forward(cls, n, factor):
    def inject(mp):
        remember_width(mp, cls)
        original = cls.forward
        mp.setattr(cls, "forward", lambda self, x: original(self, x) * (factor if self.__dict__["_width"] == n else 1))
    return inject


def _replace_update(module, name, state_key, factor):
    original = getattr(module, name)

    def inject(mp):
        def broken(param, grad, *args, **kwargs):
            result = original(param, grad, *args, **kwargs)
            buffer = result if state_key == "momentum_buffer" else args[1]  # adam_update's exp_avg_sq
            buffer *= factor
            return result
        mp.setattr(module, name, broken)
    return inject


def _batch_norm_eval(mp):
    """BatchNorm1d's eval-mode forward (running statistics) 1% off: only the evaluation steps see it."""
    original = nn.BatchNorm1d.forward
    mp.setattr(nn.BatchNorm1d, "forward", lambda self, x: original(self, x) * (1 if self.training else 1.01))


def _ce_backward(mp):
    corrupt(mp, nn.CrossEntropyLoss, "backward", ALWAYS, input_times(1.01))


def _root_charrnn(mp):
    mp.setattr(models.CharRNN, "backward",
               lambda self, g: models.RNNRegression.backward(self, g.transpose(0, 2, 1) * 1.01))


# (id, case, inject(monkeypatch), expected path, expected kind)
BUGS = [
    ("mlp-middle-linear-grad_input", deep("tanh"), lambda mp: corrupt(mp, nn.Linear, "backward", width(7),
                                                                      input_times(1.01)), "4", BACKWARD),
    ("mlp-linear-weight-row", deep("tanh"), lambda mp: corrupt(mp, nn.Linear, "backward", width(6),
                                                               grad_times("weight", 2.0, row=0)), "2", BACKWARD),
    ("mlp-linear-bias-mean", deep("tanh"), lambda mp: corrupt(mp, nn.Linear, "backward", width(8),
                                                              grad_times("bias", 1 / 8)), "6", BACKWARD),
    ("mlp-tanh-derivative", deep("tanh"), lambda mp: mp.setattr(nn.Tanh, "derivative",
                                                                staticmethod(lambda g, y: g * (1 - y))), "7", BACKWARD),
    ("mlp-silu-derivative", deep("silu"), lambda mp: mp.setattr(nn.SiLU, "derivative", staticmethod(
        lambda g, x: g * activation.sigmoid(x))), "7", BACKWARD),
    ("mlp-gelu-middle", deep("gelu"), _activation_width(nn.GELU, 7, input_times(0.99)), "3", BACKWARD),
    ("mlp-elu-forward", deep("elu"), _activation_forward(nn.ELU, 8, 1.01), "5", FORWARD),
    ("mlp-batchnorm-eval-forward", dataclasses.replace(deep("relu", batch_norm=True), eval_steps=2),
     _batch_norm_eval, "1", FORWARD),
    ("mlp-layernorm-middle", deep("relu", layer_norm=True),
     lambda mp: corrupt(mp, nn.LayerNorm, "backward", lambda self: self.normalized_shape == (7,),
                        grad_times("weight", 1.01)), "4", BACKWARD),
    ("cnn-first-conv-weight", CNN, lambda mp: corrupt(mp, nn.Conv2d, "backward", width(1, "in_channels"),
                                                      grad_times("weight", 1.01)), "0", BACKWARD),
    ("cnn-second-conv-bias", CNN, lambda mp: corrupt(mp, nn.Conv2d, "backward", width(2, "in_channels"),
                                                     grad_times("bias", 0.5)), "3", BACKWARD),
    ("cnn-maxpool", CNN, lambda mp: corrupt(mp, nn.MaxPool2d, "backward", ALWAYS, input_times(0.5)), "5", BACKWARD),
    ("cnn-flatten-order", CNN, lambda mp: corrupt(mp, nn.Flatten, "backward", ALWAYS,
                                                  lambda self, r, g: g.reshape(r.shape, order="F")), "6", BACKWARD),
    ("cnn-relu-mask", CNN, lambda mp: mp.setattr(nn.ReLU, "derivative", staticmethod(
        lambda g, y: g * (y >= 0))), "4", BACKWARD),
    ("charrnn-rnn-weight_hh", CHAR_RNN, lambda mp: corrupt(mp, nn.RNN, "backward", ALWAYS,
                                                           grad_times("weight_hh_l0", 1.01)), "rnn", BACKWARD),
    ("charrnn-decoder-bias", CHAR_RNN, lambda mp: corrupt(mp, nn.Linear, "backward", width(8),
                                                          grad_times("bias", 1.01)), "decoder", BACKWARD),
    ("charrnn-own-transpose", CHAR_RNN, _root_charrnn, "", BACKWARD),
    ("grucell-weight_ih", cell_case("GRUCell"), lambda mp: corrupt(mp, nn.GRUCell, "backward", ALWAYS,
                                                                   grad_times("weight_ih", 1.01)), "cell", BACKWARD),
    ("lstmcell-bias_ih", cell_case("LSTMCell"), lambda mp: corrupt(mp, nn.LSTMCell, "backward", ALWAYS,
                                                                   grad_times("bias_ih", 1.01)), "cell", BACKWARD),
    ("loss-cross-entropy", deep("tanh"), _ce_backward, "loss", BACKWARD),
    ("loss-mse-no-mean", mlp_with(("MSELoss", {}), REGRESSION, targets=2),
     lambda mp: corrupt(mp, nn.MSELoss, "backward", ALWAYS, input_times(16.0)), "loss", BACKWARD),
    ("loss-bce-with-logits-sign", mlp_with(("BCEWithLogitsLoss", {}), Batches("multilabel", 4, 3, batch_size=8)),
     lambda mp: corrupt(mp, nn.BCEWithLogitsLoss, "backward", ALWAYS, input_times(-1.0)), "loss", BACKWARD),
    ("optim-sgd-momentum-buffer", deep("tanh"), _replace_update(sgd, "sgd_update", "momentum_buffer", 1.01),
     None, OPTIMIZER),
    ("optim-adam-exp_avg_sq", mlp_with(CE, CLASSES, ("Adam", {"lr": 0.01})),
     _replace_update(adam, "adam_update", "exp_avg_sq", 1.001), None, OPTIMIZER),
]


@pytest.fixture(scope="module", autouse=True)
def cell_models():
    with registry.isolated():
        registry.register_module("CellNet", ManualCellNet, TorchCellNet)
        yield


def test_the_bugs_are_distinct_and_enough():
    assert len({bug[0] for bug in BUGS}) == len(BUGS) >= 20
    assert {bug[1].model[0] for bug in BUGS} >= {"MLP", "CNN", "CharRNN", "CellNet"}


@pytest.mark.parametrize("name, case, inject, path, kind", BUGS, ids=[bug[0] for bug in BUGS])
def test_explain_names_the_injected_module(monkeypatch, name, case, inject, path, kind):
    assert explain_case(case, "float64").kind is None, f"{case.name} must pass before the bug is injected"
    inject(monkeypatch)
    explanation = explain_case(case, "float64")
    assert explanation.kind == kind, explanation.summary()
    assert explanation.evaluation == (explanation.step >= case.steps) == ("eval" in name)
    if kind == OPTIMIZER:
        assert explanation.culprit is None
        state_key = "momentum_buffer" if "sgd" in name else "exp_avg_sq"
        assert explanation.optimizer_entry is not None and explanation.optimizer_entry.name.endswith(state_key)
        assert explanation.functions[0].startswith(f"manual.optim.{'sgd.SGD' if 'sgd' in name else 'adam.Adam'}")
        return
    assert explanation.culprit is not None and explanation.culprit.path == path, explanation.summary()
    if kind == BACKWARD:
        assert explanation.fd is not None and explanation.side.startswith("manual's backward"), explanation.summary()
