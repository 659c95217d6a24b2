"""The misuse catalogue: every bad call manual must refuse, and how.

Each entry builds one bad call, names the exception manual raises and the message fragments that must appear in
it (who: the layer/function; what was expected; what was given). `torch_does` says what torch does with the same
call: "raises" (asserted: whatever torch rejects, manual rejects too), "warns" or "accepts" (asserted as well:
manual is deliberately stricter there, and the entry's comment says why), or None (no torch counterpart, e.g. the
backward protocol, which autograd makes impossible to misuse).
"""
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import manual.models
import manual.nn as mnn
import manual.optim
import torch_ref.nn
from compare.catalogue.module_cases import MODULE_CASES
from compare.checks.module_check import build_manual, make_arguments, make_inputs
from manual.gradcheck import flat_outputs


@dataclass(frozen=True)
class Misuse:
    name: str
    manual: Callable
    error: type
    fragments: tuple  # substrings of the message: the layer or function, what was expected, what was given
    torch: Callable | None = None  # the same call on torch's side
    torch_does: str | None = "raises"  # "raises", "warns", "accepts", or None (no torch counterpart)


def f32(*shape):
    return np.full(shape, 0.5, np.float32)


def t32(*shape):
    return torch.full(shape, 0.5)


def f64(*shape):
    return np.full(shape, 0.5)


def t64(*shape):
    return torch.full(shape, 0.5, dtype=torch.float64)


def labels(*values, dtype=np.int64):
    return np.array(values, dtype=dtype)


def tlabels(*values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


def backward_of(build, grad_shape, dtype=torch.float32):
    """torch: forward `build()` (an output that requires grad), then backward with a grad of `grad_shape`."""
    return lambda: build().backward(torch.ones(grad_shape, dtype=dtype))


def requiring_grad(tensor):
    return tensor.requires_grad_(True)


# -- input rank, feature size, type and dtype ------------------------------------------------------------
INPUTS = [
    Misuse("linear-feature-size", lambda: mnn.Linear(4, 3)(f32(2, 5)), ValueError,
           ("Linear(in_features=4", "expected input of shape (*, 4)", "got (2, 5)"),
           lambda: torch.nn.Linear(4, 3)(t32(2, 5))),
    Misuse("linear-rank-0", lambda: mnn.Linear(4, 3)(f32()), ValueError, ("Linear(in_features=4", "(*, 4)", "got ()"),
           lambda: torch.nn.Linear(4, 3)(t32())),
    Misuse("batchnorm-feature-size", lambda: mnn.BatchNorm1d(3)(f32(4, 2)), ValueError,
           ("BatchNorm1d(3", "expected input of shape (N, 3) or (N, 3, L)", "got (4, 2)"),
           lambda: torch.nn.BatchNorm1d(3)(t32(4, 2))),
    Misuse("batchnorm-rank-1", lambda: mnn.BatchNorm1d(3)(f32(3)), ValueError, ("BatchNorm1d(3", "(N, 3)", "got (3,)"),
           lambda: torch.nn.BatchNorm1d(3)(t32(3))),
    Misuse("batchnorm-rank-4", lambda: mnn.BatchNorm1d(3)(f32(2, 3, 4, 5)), ValueError,
           ("BatchNorm1d(3", "(N, 3, L)", "got (2, 3, 4, 5)"), lambda: torch.nn.BatchNorm1d(3)(t32(2, 3, 4, 5))),
    Misuse("maxout-feature-size", lambda: mnn.Maxout(4, 2, 3)(f32(2, 5)), ValueError,
           ("Maxout(in_features=4", "(*, 4)", "got (2, 5)"), lambda: torch_ref.nn.Maxout(4, 2, 3)(t32(2, 5))),
    Misuse("maxout-rank-0", lambda: mnn.Maxout(4, 2, 3)(f32()), ValueError,
           ("Maxout(in_features=4", "(*, 4)", "got ()"),
           lambda: torch_ref.nn.Maxout(4, 2, 3)(t32())),
    Misuse("flatten-dim-out-of-range", lambda: mnn.Flatten()(f32(3)), IndexError,
           ("Flatten(start_dim=1", "expected to be in range of [-1, 0]", "got 1"), lambda: torch.nn.Flatten()(t32(3))),
    Misuse("softmax-dim-out-of-range", lambda: mnn.Softmax(dim=2)(f32(2, 3)), IndexError,
           ("Softmax(dim=2)", "[-2, 1]", "got 2"), lambda: torch.nn.Softmax(dim=2)(t32(2, 3))),
    Misuse("log_softmax-dim-out-of-range", lambda: mnn.LogSoftmax(dim=-3)(f32(2, 3)), IndexError,
           ("LogSoftmax(dim=-3)", "[-2, 1]", "got -3"), lambda: torch.nn.LogSoftmax(dim=-3)(t32(2, 3))),
    Misuse("nll-input-rank-0", lambda: mnn.NLLLoss()(f32(), labels(0)), ValueError,
           ("NLLLoss(", "(C,), (N, C) or (N, C, d1, ...)", "got ()"),
           lambda: torch.nn.NLLLoss()(t32(), torch.tensor(0))),
    Misuse("relu-list-input", lambda: mnn.ReLU()([0.5]), TypeError, ("ReLU()", "numpy.ndarray", "got list"),
           lambda: torch.nn.ReLU()([0.5])),
    Misuse("linear-integer-input", lambda: mnn.Linear(4, 3)(np.ones((2, 4), np.int64)), TypeError,
           ("Linear(in_features=4", "float32 or float64", "int64"),
           lambda: torch.nn.Linear(4, 3)(torch.ones(2, 4, dtype=torch.int64))),
    # torch applies relu to integer tensors; manual computes in float only
    Misuse("relu-integer-input", lambda: mnn.ReLU()(np.ones(3, np.int64)), TypeError,
           ("ReLU()", "float32 or float64", "int64"), lambda: torch.nn.ReLU()(torch.ones(3, dtype=torch.int64)),
           "accepts"),
]

# -- mixed dtypes: input vs parameters, buffers, targets, weights ---------------------------------------
DTYPES = [
    Misuse("linear-float64-input-float32-weight", lambda: mnn.Linear(4, 3)(f64(2, 4)), TypeError,
           ("Linear(in_features=4", "dtype float32", "input dtype float64"), lambda: torch.nn.Linear(4, 3)(t64(2, 4))),
    Misuse("maxout-float64-input-float32-weight", lambda: mnn.Maxout(4, 2, 3)(f64(2, 4)), TypeError,
           ("Maxout(in_features=4", "dtype float32", "input dtype float64"),
           lambda: torch_ref.nn.Maxout(4, 2, 3)(t64(2, 4))),
    Misuse("batchnorm-float64-input-float32-weight", lambda: mnn.BatchNorm1d(3)(f64(4, 3)), TypeError,
           ("BatchNorm1d(3", "dtype float32", "input dtype float64"), lambda: torch.nn.BatchNorm1d(3)(t64(4, 3))),
    Misuse("batchnorm-noaffine-float64-input-float32-running-stats",
           lambda: mnn.BatchNorm1d(3, affine=False)(f64(4, 3)), TypeError,
           ("BatchNorm1d(3", "dtype float32", "input dtype float64"),
           lambda: torch.nn.BatchNorm1d(3, affine=False)(t64(4, 3))),
    Misuse("huber-float32-input-float64-target", lambda: mnn.HuberLoss()(f32(3), f64(3)), TypeError,
           ("HuberLoss(", "target", "dtype float64", "float32"),
           backward_of(lambda: torch.nn.HuberLoss()(requiring_grad(t32(3)), t64(3)), ())),
    Misuse("bce-float32-input-float64-target", lambda: mnn.BCELoss()(f32(3), f64(3)), TypeError,
           ("BCELoss(", "target", "dtype float64", "float32"),
           backward_of(lambda: torch.nn.BCELoss()(requiring_grad(t32(3)), t64(3)), ())),
    # torch promotes MSE's float32 input and float64 target to a float64 loss: the model's dtype silently
    # changes under it; manual refuses
    Misuse("mse-float32-input-float64-target", lambda: mnn.MSELoss()(f32(3), f64(3)), TypeError,
           ("MSELoss(", "target", "dtype float64", "float32"),
           backward_of(lambda: torch.nn.MSELoss()(requiring_grad(t32(3)), t64(3)), (), torch.float64), "accepts"),
    Misuse("ce-float64-weight-float32-input", lambda: mnn.CrossEntropyLoss(weight=f64(3))(f32(2, 3), labels(0, 1)),
           TypeError, ("CrossEntropyLoss(", "weight", "float64", "float32"),
           lambda: torch.nn.CrossEntropyLoss(weight=t64(3))(t32(2, 3), tlabels(0, 1))),
]

# -- class-index targets, probabilities, target shapes ---------------------------------------------------
TARGETS = [
    *[Misuse(f"{loss.__name__}-target-out-of-range", lambda loss=loss: loss()(f32(2, 3), labels(0, 3)), IndexError,
             (f"{loss.__name__}(", "Target 3 is out of bounds", "expected class indices in [0, 3)"),
             lambda loss=loss: getattr(torch.nn, loss.__name__)()(t32(2, 3), tlabels(0, 3)))
      for loss in (mnn.CrossEntropyLoss, mnn.NLLLoss)],
    *[Misuse(f"{loss.__name__}-target-negative", lambda loss=loss: loss()(f32(2, 3), labels(0, -1)), IndexError,
             (f"{loss.__name__}(", "Target -1 is out of bounds", "[0, 3) or ignore_index=-100"),
             lambda loss=loss: getattr(torch.nn, loss.__name__)()(t32(2, 3), tlabels(0, -1)))
      for loss in (mnn.CrossEntropyLoss, mnn.NLLLoss)],
    *[Misuse(f"{loss.__name__}-target-{dtype.__name__}",
             lambda loss=loss, dtype=dtype: loss()(f32(2, 3), labels(0, 1, dtype=dtype)),
             TypeError, (f"{loss.__name__}(", "int64 (or uint8)", f"got dtype {np.dtype(dtype)}"),
             lambda loss=loss, t=t: getattr(torch.nn, loss.__name__)()(t32(2, 3), tlabels(0, 1, dtype=t)))
      for loss in (mnn.CrossEntropyLoss, mnn.NLLLoss)
      for dtype, t in ((np.float32, torch.float32), (np.int32, torch.int32), (np.bool_, torch.bool))],
    Misuse("ce-target-shape", lambda: mnn.CrossEntropyLoss()(f32(2, 3), labels([0], [1])), ValueError,
           ("CrossEntropyLoss(", "class-index target must have shape (2,)", "got (2, 1)"),
           lambda: torch.nn.CrossEntropyLoss()(t32(2, 3), tlabels([0], [1]))),
    Misuse("ce-weight-size", lambda: mnn.CrossEntropyLoss(weight=f32(4))(f32(2, 3), labels(0, 1)), ValueError,
           ("CrossEntropyLoss(", "weight must have shape (3,)", "got (4,)"),
           lambda: torch.nn.CrossEntropyLoss(weight=t32(4))(t32(2, 3), tlabels(0, 1))),
    Misuse("bce-probability-above-1", lambda: mnn.BCELoss()(np.float32([0.5, 1.5]), f32(2)), ValueError,
           ("BCELoss(", "input should be between 0 and 1", "got 1.5")),
    Misuse("bce-probability-negative", lambda: mnn.BCELoss()(np.float32([-0.1, 0.5]), f32(2)), ValueError,
           ("BCELoss(", "input should be between 0 and 1", "got -0.1")),
    Misuse("bce-probability-nan", lambda: mnn.BCELoss()(np.float32([np.nan, 0.5]), f32(2)), ValueError,
           ("BCELoss(", "input should be between 0 and 1", "got nan")),
    Misuse("bce-target-above-1", lambda: mnn.BCELoss()(f32(2), np.float32([0.0, 2.0])), ValueError,
           ("BCELoss(", "target should be between 0 and 1", "got 2.0")),
    Misuse("bce-target-negative", lambda: mnn.BCELoss()(f32(2), np.float32([-1.0, 1.0])), ValueError,
           ("BCELoss(", "target should be between 0 and 1", "got -1.0")),
    Misuse("bce-target-shape", lambda: mnn.BCELoss()(f32(3, 1), f32(3)), ValueError,
           ("BCELoss(", "target must have shape (3, 1)", "got (3,)"), lambda: torch.nn.BCELoss()(t32(3, 1), t32(3))),
    Misuse("bce_with_logits-target-shape", lambda: mnn.BCEWithLogitsLoss()(f32(3, 1), f32(3)), ValueError,
           ("BCEWithLogitsLoss(", "target must have shape (3, 1)", "got (3,)"),
           lambda: torch.nn.BCEWithLogitsLoss()(t32(3, 1), t32(3))),
    # (N, 1) predictions against (N,) targets: torch only warns and broadcasts to (N, N), averaging N² wrong
    # pairs; manual refuses (torch's own warning says to make the sizes equal)
    *[Misuse(f"{name}-target-shape-broadcast", lambda name=name: getattr(mnn, name)()(f32(3, 1), f32(3)), ValueError,
             (f"{name}(", "target must have shape (3, 1)", "got (3,)"),
             lambda name=name: getattr(torch.nn, name)()(t32(3, 1), t32(3)), "warns")
      for name in ("L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss")],
    Misuse("mse-target-shape-incompatible", lambda: mnn.MSELoss()(f32(3, 2), f32(2, 3)), ValueError,
           ("MSELoss(", "target must have shape (3, 2)", "got (2, 3)"),
           lambda: torch.nn.MSELoss()(t32(3, 2), t32(2, 3))),
]

# -- gradients passed to backward ------------------------------------------------------------------------
def manual_backward(module, x, grad, target=None):
    def call():
        module(x) if target is None else module(x, target)
        return module.backward(grad)
    return call


GRADIENTS = [
    Misuse("mse-none-backward-without-grad", manual_backward(mnn.MSELoss(reduction="none"), f32(3), None, f32(3)),
           RuntimeError, ("MSELoss(reduction='none')", "implicitly created only for scalar outputs", "shape (3,)"),
           lambda: torch.nn.MSELoss(reduction="none")(requiring_grad(t32(3)), t32(3)).backward()),
    Misuse("mse-none-grad-shape", manual_backward(mnn.MSELoss(reduction="none"), f32(3), f32(2), f32(3)), ValueError,
           ("MSELoss(reduction='none')", "grad_output must have shape (3,)", "got (2,)"),
           backward_of(lambda: torch.nn.MSELoss(reduction="none")(requiring_grad(t32(3)), t32(3)), (2,))),
    *[Misuse(f"{name}-grad-shape", manual_backward(module, f32(4, 3), f32(1, 3)), ValueError,
             (label, "grad_output of the output's shape (4, 3)", "got (1, 3)"),
             backward_of(lambda torch_module=torch_module: torch_module(requiring_grad(t32(4, 3))), (1, 3)))
      for name, label, module, torch_module in (
          ("relu", "ReLU()", mnn.ReLU(), torch.nn.ReLU()),
          ("softmax", "Softmax(dim=1)", mnn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
          ("batchnorm", "BatchNorm1d(3", mnn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
          ("dropout", "Dropout(p=0.5", mnn.Dropout().eval(), torch.nn.Dropout().eval()))],
    Misuse("maxout-grad-shape", manual_backward(mnn.Maxout(4, 3, 2), f32(4, 4), f32(1, 3)), ValueError,
           ("Maxout(in_features=4", "grad_output of the output's shape (4, 3)", "got (1, 3)"),
           backward_of(lambda: torch_ref.nn.Maxout(4, 3, 2)(t32(4, 4)), (1, 3))),
]


# -- the backward protocol: every module and loss, and composed models ----------------------------------
def fresh_module(case):
    """The case's manual module, built directly (Dropout draws its own masks), and float64 inputs."""
    return build_manual(case), *make_inputs(case, "float64")


def backward_before_forward(case):
    module, x, target = fresh_module(case)
    return module.backward() if target is not None else module.backward(np.ones_like(x))


def second_backward(case):
    module, arguments, target = build_manual(case), make_arguments(case, "float64"), case.target
    output = module(*arguments)  # with every input (MultiheadAttention needs query, key and value)
    outputs = flat_outputs(output)  # RNN's (output, h_n), LSTM's (output, (h_n, c_n)): one gradient per output
    grads = [None if target is not None and np.ndim(out) == 0 else np.ones_like(out) for out in outputs]
    module.backward(*grads)
    return module.backward(*grads)


def model_second_backward(model, x):
    def call():
        grad = np.ones_like(model(x))
        model.backward(grad)
        model.backward(grad)
    return call


PROTOCOL_FRAGMENTS = ("backward called without a matching forward", "no forward yet, backward already ran")
PROTOCOL = [
    *[Misuse(f"backward-before-forward-{case.name}", lambda case=case: backward_before_forward(case), RuntimeError,
             (case.module[0] + "(", *PROTOCOL_FRAGMENTS), None, None) for case in MODULE_CASES],
    *[Misuse(f"second-backward-{case.name}", lambda case=case: second_backward(case), RuntimeError,
             (case.module[0] + "(", *PROTOCOL_FRAGMENTS), None, None) for case in MODULE_CASES],
    Misuse("model-backward-before-forward", lambda: manual.models.MLP(4, [5], 3, batch_norm=True).backward(f32(2, 3)),
           RuntimeError, ("Linear(in_features=5, out_features=3", *PROTOCOL_FRAGMENTS), None, None),
    Misuse("model-second-backward",
           model_second_backward(manual.models.MLP(4, [5], 3, dropout=0.5, activation="maxout"), f32(2, 4)),
           RuntimeError, ("Linear(in_features=5, out_features=3", *PROTOCOL_FRAGMENTS), None, None),
]

# -- load_state_dict: every missing, unexpected and wrongly shaped key, in one error, as torch -------------
SHAPES = {"0.weight": (3, 2), "0.bias": (3,), "1.weight": (1, 3), "1.bias": (1,)}


def manual_two_linears():
    return mnn.Sequential(mnn.Linear(2, 3), mnn.Linear(3, 1))


def torch_two_linears():
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))


def edited_state(drop=(), add=(), reshape=None, tensors=False):
    """The two-Linear model's state with keys dropped, added and reshaped (as NumPy arrays or torch tensors)."""
    shapes = {key: shape for key, shape in SHAPES.items() if key not in drop}
    shapes.update({key: (1,) for key in add}, **(reshape or {}))
    state = {key: np.ones(shape, np.float32) for key, shape in shapes.items()}
    return {key: torch.from_numpy(value) for key, value in state.items()} if tensors else state


def state_misuse(name, fragments, strict=True, **edits):
    return Misuse(f"load_state_dict-{name}",
                  lambda: manual_two_linears().load_state_dict(edited_state(**edits), strict=strict), RuntimeError,
                  ("Error(s) in loading state_dict for Sequential", *fragments),
                  lambda: torch_two_linears().load_state_dict(edited_state(**edits, tensors=True), strict=strict))


STATE_DICTS = [
    state_misuse("missing", ['Missing key(s) in state_dict: "0.bias", "1.weight".'], drop=("0.bias", "1.weight")),
    state_misuse("unexpected", ['Unexpected key(s) in state_dict: "x", "2.weight".'], add=("x", "2.weight")),
    state_misuse("wrong-shapes", ["size mismatch for 0.weight: copying a param with shape (3, 3) from checkpoint, "
                                  "the shape in current model is (3, 2)", "size mismatch for 1.bias",
                                  "shape (2,) from checkpoint"], reshape={"0.weight": (3, 3), "1.bias": (2,)}),
    state_misuse("all-at-once", ['Missing key(s) in state_dict: "1.bias".', 'Unexpected key(s) in state_dict: "x".',
                                 "size mismatch for 0.weight"], drop=("1.bias",), add=("x",),
                 reshape={"0.weight": (2, 3)}),
    state_misuse("wrong-shape-not-strict", ["size mismatch for 1.weight", "current model is (1, 3)"], strict=False,
                 drop=("0.bias",), reshape={"1.weight": (3, 1)}),
    Misuse("optimizer-load_state_dict-group-sizes",
           lambda: manual.optim.SGD([mnn.Parameter(f32(2))]).load_state_dict(
               manual.optim.SGD([mnn.Parameter(f32(2)), mnn.Parameter(f32(1))]).state_dict()), ValueError,
           ("SGD: loaded state dict has groups of sizes [2]", "this optimizer has [1]"),
           lambda: torch.optim.SGD([torch.nn.Parameter(t32(2))]).load_state_dict(
               torch.optim.SGD([torch.nn.Parameter(t32(2)), torch.nn.Parameter(t32(1))]).state_dict())),
]


# -- hyperparameters -------------------------------------------------------------------------------------
OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW")


def optimizer_misuse(name, kwargs, fragments, torch_does="raises"):
    label = "-".join(f"{key}={value}" for key, value in kwargs.items())
    return Misuse(f"{name}-{label}", lambda: getattr(manual.optim, name)([mnn.Parameter(f32(2))], **kwargs),
                  ValueError, (f"{name}: invalid", *fragments),
                  lambda: getattr(torch.optim, name)([torch.nn.Parameter(t32(2))], **kwargs), torch_does)


def torch_loss_forward(name, **kwargs):
    """torch checks these loss arguments when the loss is computed, not in the constructor."""
    return lambda: getattr(torch.nn, name)(**kwargs)(t32(2, 3), tlabels(0, 1) if "Entropy" in name else t32(2, 3))


def shared_parameter(side):
    return side.Parameter(f32(2) if side is mnn else t32(2))


HYPERPARAMETERS = [
    *[optimizer_misuse(name, {"lr": -0.1}, ("lr=-0.1", "expected lr >= 0")) for name in OPTIMIZERS],
    *[optimizer_misuse(name, {"weight_decay": -0.1}, ("weight_decay=-0.1", "expected weight_decay >= 0"))
      for name in OPTIMIZERS],
    *[optimizer_misuse(name, {"eps": -1e-8}, ("eps=-1e-08", "expected eps >= 0")) for name in OPTIMIZERS[1:]],
    *[optimizer_misuse(name, {"lr": 0.1, "momentum": -0.5}, ("momentum=-0.5", "expected momentum >= 0"))
      for name in ("SGD", "RMSprop")],
    *[optimizer_misuse(name, {"betas": betas}, (f"betas={betas}", "two values, each with 0 <= beta < 1"))
      for name in ("Adam", "AdamW") for betas in ((0.9, 1.0), (-0.1, 0.999))],
    optimizer_misuse("SGD", {"lr": 0.1, "nesterov": True}, ("nesterov=True, momentum=0, dampening=0",
                                                            "expected momentum > 0 and dampening == 0")),
    optimizer_misuse("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
                     ("dampening=0.1", "expected momentum > 0 and dampening == 0")),
    optimizer_misuse("Adagrad", {"lr_decay": -1.0}, ("lr_decay=-1.0", "expected lr_decay >= 0")),
    optimizer_misuse("Adagrad", {"initial_accumulator_value": -1.0}, ("initial_accumulator_value=-1.0", ">= 0")),
    optimizer_misuse("RMSprop", {"alpha": -0.1}, ("alpha=-0.1", "expected alpha >= 0")),
    # torch's SGD tests `lr < 0.0`, which NaN passes; manual's `0 <= lr` does not
    optimizer_misuse("SGD", {"lr": float("nan")}, ("lr=nan", "expected lr >= 0"), "accepts"),
    *[Misuse(f"{name}-empty-parameter-list", lambda name=name: getattr(manual.optim, name)([]), ValueError,
             (f"{name}: optimizer got an empty parameter list", "expected at least one Parameter"),
             lambda name=name: getattr(torch.optim, name)([])) for name in OPTIMIZERS],
    Misuse("SGD-not-a-parameter", lambda: manual.optim.SGD([f32(2)]), TypeError,
           ("SGD can only optimize manual.nn.Parameter objects", "got ndarray"), lambda: torch.optim.SGD([f32(2)])),
    Misuse("SGD-parameter-in-two-groups",
           lambda: manual.optim.SGD([{"params": [p := shared_parameter(mnn)]}, {"params": [p]}]), ValueError,
           ("SGD: some parameters appear in more than one parameter group",),
           lambda: torch.optim.SGD([{"params": [p := shared_parameter(torch.nn)]}, {"params": [p]}])),
    # torch warns that a repeated parameter "will cause an error" in future; manual already refuses (it would
    # otherwise be stepped twice)
    Misuse("SGD-parameter-twice-in-a-group", lambda: manual.optim.SGD([p := shared_parameter(mnn), p]), ValueError,
           ("SGD: a parameter group contains the same parameter more than once", "expected distinct parameters",
            "got 2 entries for 1 parameters"), lambda: torch.optim.SGD([p := shared_parameter(torch.nn), p]), "warns"),
    *[Misuse(f"dropout-p={p}", lambda p=p: mnn.Dropout(p), ValueError,
             ("Dropout: dropout probability has to be between 0 and 1", f"got {p}"), lambda p=p: torch.nn.Dropout(p))
      for p in (-0.1, 1.5)],
    # torch tests `p < 0 or p > 1`, which NaN passes
    Misuse("dropout-p=nan", lambda: mnn.Dropout(float("nan")), ValueError, ("Dropout:", "between 0 and 1", "got nan"),
           lambda: torch.nn.Dropout(float("nan")), "accepts"),
    Misuse("batchnorm-eps-0-training", lambda: mnn.BatchNorm1d(3, eps=0.0)(f32(4, 3)), ValueError,
           ("BatchNorm1d(3, eps=0.0", "eps must be positive", "got 0.0"),
           lambda: torch.nn.BatchNorm1d(3, eps=0.0)(t32(4, 3))),
    Misuse("batchnorm-eps-negative-eval", lambda: mnn.BatchNorm1d(3, eps=-1.0).eval()(f32(4, 3)), ValueError,
           ("BatchNorm1d(3, eps=-1.0", "eps must be non-negative", "got -1.0"),
           lambda: torch.nn.BatchNorm1d(3, eps=-1.0).eval()(t32(4, 3))),
    *[Misuse(f"batchnorm-batch-of-one-{label}", lambda shape=shape, kw=kw, train=train: mnn.BatchNorm1d(3, **kw).train(
              train)(f32(*shape)), ValueError,
             ("BatchNorm1d(3", "Expected more than 1 value per channel", f"got input size {shape}"),
             lambda shape=shape, kw=kw, train=train: torch.nn.BatchNorm1d(3, **kw).train(train)(t32(*shape)))
      for label, shape, kw, train in (("training", (1, 3), {}, True), ("training-3d", (1, 3, 1), {}, True),
                                      ("eval-untracked", (1, 3), {"track_running_stats": False}, False))],
    Misuse("ce-label_smoothing-above-1", lambda: mnn.CrossEntropyLoss(label_smoothing=1.5), ValueError,
           ("CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0", "got 1.5"),
           torch_loss_forward("CrossEntropyLoss", label_smoothing=1.5)),
    # torch only tests label_smoothing <= 1; a negative one sharpens the targets beyond one-hot
    Misuse("ce-label_smoothing-negative", lambda: mnn.CrossEntropyLoss(label_smoothing=-0.1), ValueError,
           ("CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0", "got -0.1"),
           torch_loss_forward("CrossEntropyLoss", label_smoothing=-0.1), "accepts"),
    *[Misuse(f"huber-delta={delta}", lambda delta=delta: mnn.HuberLoss(delta=delta), ValueError,
             ("HuberLoss: delta must be positive", f"got {delta}"), torch_loss_forward("HuberLoss", delta=delta))
      for delta in (0.0, -1.0)],
    Misuse("smooth_l1-beta-negative", lambda: mnn.SmoothL1Loss(beta=-1.0), ValueError,
           ("SmoothL1Loss: beta must be non-negative", "got -1.0"), torch_loss_forward("SmoothL1Loss", beta=-1.0)),
    *[Misuse(f"{name}-reduction", lambda name=name: getattr(mnn, name)(reduction="avg"), ValueError,
             (f"{name}: reduction must be one of ('none', 'mean', 'sum')", "got 'avg'"),
             torch_loss_forward(name, reduction="avg")) for name in ("MSELoss", "CrossEntropyLoss")],
    # torch accepts the legacy arguments with a deprecation warning
    Misuse("mse-legacy-size_average", lambda: mnn.MSELoss(size_average=False), ValueError,
           ("MSELoss: the legacy size_average/reduce arguments are not supported", "use reduction="),
           lambda: torch.nn.MSELoss(size_average=False), "warns"),
    Misuse("gelu-approximate", lambda: mnn.GELU(approximate="fast"), ValueError,
           ("GELU: approximate must be 'none' or 'tanh'", "got 'fast'"),
           lambda: torch.nn.GELU(approximate="fast")(t32(2))),
    Misuse("maxout-pieces-0", lambda: mnn.Maxout(4, 2, 0), ValueError, ("Maxout: pieces must be >= 1", "got 0"),
           lambda: torch_ref.nn.Maxout(4, 2, 0)),
]

# -- silent wrong results that become errors: foreign grads and state, integer parameters, ndarray subclasses --
def stepped_with_grad(grad, side=mnn):
    """One SGD step on a (2, 3) float32 parameter whose .grad is `grad` (torch refuses the assignment itself)."""
    if side is mnn:
        param = mnn.Parameter(f32(2, 3))
        param.grad = grad
        return lambda: manual.optim.SGD([param], lr=0.1).step()
    return lambda: setattr(torch.nn.Parameter(t32(2, 3)), "grad", grad)


def adam_state():
    param = mnn.Parameter(f32(2))
    adam = manual.optim.Adam([param])
    param.grad = f32(2)
    adam.step()
    return adam.state_dict()


def torch_adam_state():
    param = torch.nn.Parameter(t32(2))
    adam = torch.optim.Adam([param])
    param.grad = t32(2)
    adam.step()
    return adam.state_dict()


MATRIX, MASKED = f32(2, 3).view(np.matrix), np.ma.masked_array(f32(2, 3), mask=[[0, 1, 0], [0, 0, 0]])
SILENT = [
    # NumPy would broadcast a (1, 3) gradient into every row, or promote the float32 update to float64
    Misuse("SGD-grad-shape", stepped_with_grad(f32(1, 3)), ValueError,
           ("SGD: the .grad of parameter 0", "shape (2, 3) and dtype float32", "shape (1, 3)"),
           stepped_with_grad(t32(1, 3), torch.nn)),
    Misuse("SGD-grad-dtype", stepped_with_grad(f64(2, 3)), ValueError,
           ("SGD: the .grad of parameter 0", "dtype float32", "dtype float64"), stepped_with_grad(t64(2, 3), torch.nn)),
    Misuse("SGD-grad-matrix", stepped_with_grad(MATRIX), ValueError,
           ("SGD: the .grad of parameter 0", "numpy.ndarray", "got matrix"), None, None),
    Misuse("parameter-integer", lambda: mnn.Parameter(np.ones(3, np.int64)), TypeError,
           ("Parameter: only floating point data", "got dtype int64"),
           lambda: torch.nn.Parameter(torch.ones(3, dtype=torch.int64))),
    # torch accepts complex parameters; manual has no complex arithmetic
    Misuse("parameter-complex", lambda: mnn.Parameter(np.ones(3, np.complex64)), TypeError,
           ("Parameter: only floating point data", "got dtype complex64"),
           lambda: torch.nn.Parameter(torch.ones(3, dtype=torch.complex64)), "accepts"),
    Misuse("parameter-masked", lambda: mnn.Parameter(MASKED), TypeError, ("Parameter: masked arrays",), None, None),
    # torch's SGD loads Adam's state without a word and takes over its lr (and its exp_avg entries)
    Misuse("SGD-load_state_dict-of-Adam",
           lambda: manual.optim.SGD([mnn.Parameter(f32(2))], lr=0.5).load_state_dict(adam_state()), ValueError,
           ("SGD: loaded state dict comes from another optimizer", "'betas'", "expected the hyperparameters"),
           lambda: torch.optim.SGD([torch.nn.Parameter(t32(2))], lr=0.5).load_state_dict(torch_adam_state()),
           "accepts"),
    Misuse("Adam-load_state_dict-of-SGD",
           lambda: manual.optim.Adam([mnn.Parameter(f32(2))]).load_state_dict(
               manual.optim.SGD([mnn.Parameter(f32(2))], momentum=0.9).state_dict()), ValueError,
           ("Adam: loaded state dict comes from another optimizer", "'dampening', 'momentum', 'nesterov'"),
           lambda: torch.optim.Adam([torch.nn.Parameter(t32(2))]).load_state_dict(
               torch.optim.SGD([torch.nn.Parameter(t32(2))], momentum=0.9).state_dict()), "accepts"),
    # np.matrix turns `*` into a matrix product; a masked array's mask would be ignored
    Misuse("linear-matrix-input", lambda: mnn.Linear(3, 2)(MATRIX), TypeError,
           ("Linear(in_features=3", "plain numpy.ndarray input", "numpy.matrix"),
           lambda: torch.nn.Linear(3, 2)(MATRIX)),
    Misuse("relu-masked-input", lambda: mnn.ReLU()(MASKED), TypeError,
           ("ReLU()", "plain numpy.ndarray input", "MaskedArray"), lambda: torch.nn.ReLU()(MASKED)),
    Misuse("tanh-matrix-grad_output", manual_backward(mnn.Tanh(), f32(2, 3), MATRIX), TypeError,
           ("Tanh()", "plain numpy.ndarray grad_output", "numpy.matrix"),
           lambda: torch.nn.Tanh()(requiring_grad(t32(2, 3))).backward(MATRIX)),
    Misuse("mse-none-masked-grad_output", manual_backward(mnn.MSELoss(reduction="none"), f32(2, 3), MASKED, f32(2, 3)),
           TypeError, ("MSELoss(reduction='none')", "plain numpy.ndarray grad_output", "MaskedArray"),
           lambda: torch.nn.MSELoss(reduction="none")(requiring_grad(t32(2, 3)), t32(2, 3)).backward(MASKED)),
    Misuse("mse-matrix-target", lambda: mnn.MSELoss()(f32(2, 3), MATRIX), TypeError,
           ("MSELoss(", "plain numpy.ndarray target", "numpy.matrix"), lambda: torch.nn.MSELoss()(t32(2, 3), MATRIX)),
    Misuse("ce-masked-target", lambda: mnn.CrossEntropyLoss()(f32(2, 3), np.ma.masked_array(labels(0, 1))), TypeError,
           ("CrossEntropyLoss(", "plain numpy.ndarray target", "MaskedArray"),
           lambda: torch.nn.CrossEntropyLoss()(t32(2, 3), np.ma.masked_array(labels(0, 1)))),
    Misuse("ce-ignore_index-probability-targets",
           lambda: mnn.CrossEntropyLoss(ignore_index=1)(f32(2, 3), np.full((2, 3), 1 / 3, np.float32)), ValueError,
           ("CrossEntropyLoss(ignore_index=1", "ignore_index is not supported for probability", "got 1"),
           lambda: torch.nn.CrossEntropyLoss(ignore_index=1)(t32(2, 3), torch.full((2, 3), 1 / 3))),
]

CATALOGUE = INPUTS + DTYPES + TARGETS + GRADIENTS + PROTOCOL + STATE_DICTS + HYPERPARAMETERS + SILENT


def test_catalogue_names_are_unique():
    names = [misuse.name for misuse in CATALOGUE]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("misuse", CATALOGUE, ids=lambda misuse: misuse.name)
def test_misuse_is_refused_with_a_clear_message(misuse):
    with pytest.raises(misuse.error) as raised:
        misuse.manual()
    message = str(raised.value)
    missing = [fragment for fragment in misuse.fragments if fragment not in message]
    assert not missing, f"{misuse.name}: {missing} not in the message {message!r}"
    if misuse.torch_does == "raises":
        # torch's exception type varies by op; that it refuses is the point
        with pytest.raises(Exception), warnings.catch_warnings():  # noqa: B017
            warnings.simplefilter("ignore")  # torch's broadcast warning before its own size error
            misuse.torch()
    elif misuse.torch_does == "warns":
        with pytest.warns(UserWarning):
            misuse.torch()
    elif misuse.torch_does == "accepts":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            misuse.torch()


def test_load_state_dict_not_strict_loads_the_matching_keys_and_lists_the_others_as_torch():
    manual_model, torch_model = manual_two_linears(), torch_two_linears()
    manual_keys = manual_model.load_state_dict(edited_state(drop=("0.bias",), add=("x",)), strict=False)
    torch_keys = torch_model.load_state_dict(edited_state(drop=("0.bias",), add=("x",), tensors=True), strict=False)
    assert manual_keys.missing_keys == torch_keys.missing_keys == ["0.bias"]
    assert manual_keys.unexpected_keys == torch_keys.unexpected_keys == ["x"]
    np.testing.assert_array_equal(manual_model.state_dict()["1.weight"], np.ones((1, 3)))
    assert not np.array_equal(manual_model.state_dict()["0.bias"], np.ones(3))  # the missing key is left alone


# -- every backward checks grad_output's shape, broadcastable wrong shapes included --------------------------
def wrong_shapes(shape):
    """Shapes NumPy would broadcast against `shape` ((1, ...) rows, a dropped leading dim) and one it would not."""
    if shape == ():
        return [(1,), (2,)]
    wrong = [shape[1:], shape[:-1] + (shape[-1] + 1,)]
    if shape[0] != 1:
        wrong.append((1,) + shape[1:])
    return wrong


MODELS = [
    ("mlp-batchnorm-dropout", lambda: manual.models.MLP(4, [5], 3, batch_norm=True, dropout=0.5), "Linear("),
    ("mlp-maxout", lambda: manual.models.MLP(4, [5], 3, activation="maxout"), "Linear("),
    ("sequential-ending-in-flatten", lambda: mnn.Sequential(mnn.Linear(4, 6), mnn.Flatten(0)), "Flatten("),
    ("sequential-ending-in-identity", lambda: mnn.Sequential(mnn.Linear(4, 6), mnn.Identity()), "Identity("),
    ("linear-regression", lambda: manual.models.LinearRegression(4, 2), "Linear("),
    ("logistic-regression-sigmoid", lambda: manual.models.LogisticRegression(4, sigmoid=True), "Sigmoid("),
]


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda case: case.name)
def test_every_backward_refuses_a_grad_output_of_another_shape(case):
    """Each output's gradient in turn gets a wrong shape (the others the right one); the error names the layer
    and the shape given."""
    module, arguments = build_manual(case), make_arguments(case, "float64")
    if isinstance(module, mnn.Dropout):
        module.mask_provider = lambda shape: np.ones(shape, bool)
    outputs = flat_outputs(module(*arguments))
    right = [None if case.target is not None and np.ndim(out) == 0 else np.ones(np.shape(out)) for out in outputs]
    for k, output in enumerate(outputs):
        for shape in wrong_shapes(np.shape(output)):
            module(*arguments)
            grads = [*right[:k], np.ones(shape), *right[k + 1:]]
            with pytest.raises(ValueError) as raised:
                module.backward(*grads)
            assert module.label() in str(raised.value) and str(shape) in str(raised.value), str(raised.value)


@pytest.mark.parametrize("name, build, label", MODELS, ids=[m[0] for m in MODELS])
def test_models_refuse_a_grad_output_of_another_shape(name, build, label):
    model, x = build(), f32(2, 4)
    for shape in wrong_shapes(np.shape(model(x))):
        model(x)
        with pytest.raises(ValueError, match=re.escape(label)):
            model.backward(f32(*shape))
