"""torch's own sample inputs for its modules (`module_db` of torch.testing._internal.common_modules), run
through manual and torch side by side: output, dL/d(input), every parameter's grad and every buffer.

The samples come from a subprocess: importing torch's internal test utilities changes global torch state
(`torch.backends.disable_global_flags()`, profiler hooks), which must not leak into the other tests, and needs
the test-only package `expecttest` (replaced there by a stand-in when it is not installed). Every module manual
has that module_db covers is listed; torch's module_db has no sample for Flatten, Identity or Dropout
(tests/test_modules.py covers them against torch through compare/module_cases.py). No sample is skipped; the
one thing not compared is the gradient torch computes for a float target that requires grad (MSELoss,
BCELoss, ... samples): manual's loss backward returns dL/d(input) only, targets being data.
"""
import inspect
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.harness import compare_arrays
from compare.tolerances import tolerance_for

COVERED = ["Linear", "BatchNorm1d", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Softplus", "Sigmoid",
           "Tanh", "Softmax", "LogSoftmax", "L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]

EXTRACT = textwrap.dedent("""
    import json, pickle, sys, types, unittest
    try:
        import expecttest  # noqa: F401
    except ImportError:  # a test-only dependency of torch's test utilities; its TestCase is all they need
        stand_in = types.ModuleType("expecttest")
        stand_in.TestCase = unittest.TestCase
        sys.modules["expecttest"] = stand_in
    import torch
    from torch.testing._internal.common_modules import module_db

    def plain(value):
        if isinstance(value, torch.Tensor):
            return {"array": value.detach().numpy().copy(), "requires_grad": value.requires_grad}
        if isinstance(value, (list, tuple)):
            return type(value)(plain(v) for v in value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    names = set(json.loads(sys.argv[1]))
    samples = []
    for info in module_db:
        name = info.module_cls.__name__
        if name not in names:
            continue
        for training in ((True, False) if info.train_and_eval_differ else (True,)):
            torch.manual_seed(0)
            for sample in info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True,
                                                  training=training):
                if sample.forward_input is None:
                    continue
                samples.append({"module": name, "desc": sample.desc or "default", "training": training,
                                "constructor": plain((sample.constructor_input.args, sample.constructor_input.kwargs)),
                                "forward": plain((sample.forward_input.args, sample.forward_input.kwargs))})
    sys.stdout.buffer.write(pickle.dumps(samples))
""")


@pytest.fixture(scope="module")
def samples():
    done = subprocess.run([sys.executable, "-c", EXTRACT, json.dumps(COVERED)], capture_output=True, timeout=600,
                          check=True)
    by_module = {}
    for sample in pickle.loads(done.stdout):
        by_module.setdefault(sample["module"], []).append(sample)
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
