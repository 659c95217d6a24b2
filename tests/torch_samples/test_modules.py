"""torch's own sample inputs for its modules (`module_db` of torch.testing._internal.common_modules), run
through manual and torch side by side: output, dL/d(input), every parameter's grad and every buffer.

tests/torch_samples/loader.py loads them (for this file and tests/torch_samples/loader/test_{norm,conv,rnn}.py), undoing
what importing torch's test utilities changes; the last test here checks that. Every module manual has that
module_db covers is listed; torch's module_db has no sample for Flatten, Identity or Dropout
(tests/checks/test_modules.py covers them against torch through compare/catalogue/module_cases.py). No sample is skipped; the
one thing not compared is the gradient torch computes for a float target that requires grad (MSELoss,
BCELoss, ... samples): manual's loss backward returns dL/d(input) only, targets being data.
"""
import inspect
import sys

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for
from tests.torch_samples.loader import module_db, module_infos, module_inputs, trainings

COVERED = ["Linear", "BatchNorm1d", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Softplus", "Sigmoid",
           "Tanh", "Softmax", "LogSoftmax", "L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]

def plain(value):
    """A sample's values with tensors as {"array", "requires_grad"}, so each test builds fresh tensors."""
    if isinstance(value, torch.Tensor):
        return {"array": value.detach().numpy().copy(), "requires_grad": value.requires_grad}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def samples():
    by_module = {}
    for name, info in module_infos(COVERED).items():
        for training in trainings(info):
            for sample in module_inputs(info, training=training):
                if sample.forward_input is None:
                    continue
                by_module.setdefault(name, []).append({
                    "module": name, "desc": sample.desc or "default", "training": training,
                    "constructor": plain((sample.constructor_input.args, sample.constructor_input.kwargs)),
                    "forward": plain((sample.forward_input.args, sample.forward_input.kwargs))})
    return by_module


def to_torch(value, leaf_grads):
    """The sample's values as torch objects; float tensors that required grad become leaves (kept in order)."""
    if isinstance(value, dict) and "array" in value:
        tensor = torch.from_numpy(value["array"].copy())
        if value["requires_grad"]:
            tensor.requires_grad_(True)
            leaf_grads.append(tensor)
        return tensor
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(v, leaf_grads) for v in value)
    if isinstance(value, dict):
        return {k: to_torch(v, leaf_grads) for k, v in value.items()}
    return value


def to_numpy(value):
    if isinstance(value, dict) and "array" in value:
        return value["array"].copy()
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value


def run_sample(sample) -> list:
    """Errors (strings) of one sample: output, dL/d(input) (the first forward argument), parameter grads, buffers."""
    name, tolerance = sample["module"], tolerance_for("float64")
    args, kwargs = sample["constructor"]
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(*to_torch(args, []), **to_torch(kwargs, [])).to(torch.float64)
    cls = getattr(mnn, name)
    dtype = {"dtype": "float64"} if "dtype" in inspect.signature(cls).parameters else {}
    manual_module = cls(*to_numpy(args), **to_numpy(kwargs), **dtype)
    manual_module.load_state_dict({k: v.numpy() for k, v in torch_module.state_dict().items()})
    torch_module.train(sample["training"])
    manual_module.train(sample["training"])

    leaves = []
    f_args, f_kwargs = sample["forward"]
    t_out = torch_module(*to_torch(f_args, leaves), **to_torch(f_kwargs, leaves))
    m_out = manual_module(*to_numpy(f_args), **to_numpy(f_kwargs))
    grad = np.random.default_rng(1).standard_normal(np.shape(m_out))
    t_out.backward(torch.from_numpy(grad))
    m_grad = manual_module.backward(grad)
    errors = [compare_arrays(0, "output", m_out, t_out.detach().numpy(), tolerance)]
    if leaves:  # the input is the first leaf; a target's gradient is not computed by manual (targets are data)
        errors.append(compare_arrays(0, "grad.input", m_grad, leaves[0].grad.numpy(), tolerance))
    m_params = dict(manual_module.named_parameters())
    errors += [compare_arrays(0, f"grad.{n}", m_params[n].grad, p.grad.numpy(), tolerance)
               for n, p in torch_module.named_parameters() if p.grad is not None]
    m_buffers = dict(manual_module.named_buffers())
    errors += [compare_arrays(0, f"buffer.{n}", m_buffers[n], b.numpy(), tolerance)
               for n, b in torch_module.named_buffers()]
    return [error.describe() for error in errors if not error.passed]


@pytest.mark.parametrize("name", COVERED)
def test_torch_module_samples_agree(samples, name):
    assert samples.get(name), f"torch's module_db has no sample for {name}"
    failures = {}
    for sample in samples[name]:
        label = f"{sample['desc']}{'' if sample['training'] else ' (eval)'}"
        try:
            errors = run_sample(sample)
        except Exception as error:  # noqa: BLE001 - reported with the sample's name below
            errors = [f"{type(error).__name__}: {error}"]
        if errors:
            failures[label] = errors
    assert not failures, f"{name}: {len(failures)} of {len(samples[name])} samples disagree: {failures}"


def test_loading_module_db_leaves_torch_as_it_was():
    """tests/torch_samples/loader.py's workaround: the module_db import (done by the tests that run its samples) left
    torch.backends' flags settable and TorchScript's __call__ unwrapped, and found expecttest or a stand-in."""
    assert module_db() and module_db() is module_db()  # imported once
    common_utils = sys.modules["torch.testing._internal.common_utils"]
    assert not torch.backends.flags_frozen()
    torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32  # raises while frozen (compare.cli.check sets it)
    assert torch._C.ScriptFunction.__call__ is not common_utils.prof_func_call
    assert torch._C.ScriptMethod.__call__ is not common_utils.prof_meth_call
    assert sys.modules["expecttest"].TestCase is not None
