"""torch's own test samples for BatchNorm2d, LayerNorm and Embedding, run through manual.

`torch.testing._internal.common_modules.module_db` lists, per torch.nn module, the constructor arguments and
inputs torch's test suite runs it with (`module_inputs_func`, in training and, where they differ, eval mode).
Each sample is built on both sides in float64 (torch initialises, manual loads its state_dict) and compared by
`compare.module_check.check_pair`: output, dL/d(float input), every parameter's grad and every buffer.

torch's internal test package imports `expecttest` (a test-only dependency torch does not install); only its
`TestCase` base class is needed at import time, so a stand-in is registered when it is missing.
"""
import sys
import types
import unittest

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.module_check import check_pair
from compare.twins import to_numpy

MODULES = ("BatchNorm2d", "LayerNorm", "Embedding")
# what manual deliberately lacks: (module, training, sample description) -> marks (none today)
EXPECTED = {}


def module_db():
    """torch's module_db, imported without leaving torch's global state changed: on import, its test utilities
    freeze torch.backends' flags (`disable_global_flags`: a later `torch.backends.cudnn.benchmark = ...`, as in
    the benches, raises) and wrap TorchScript's `__call__`; both are put back."""
    if "expecttest" not in sys.modules:
        try:
            import expecttest  # noqa: F401
        except ImportError:
            sys.modules["expecttest"] = types.ModuleType("expecttest")
            sys.modules["expecttest"].TestCase = unittest.TestCase
    frozen = torch.backends.flags_frozen()
    script_calls = torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__
    try:
        from torch.testing._internal.common_modules import module_db as db
    finally:
        torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__ = script_calls
        if not frozen:  # the flag disable_global_flags() clears (torch.backends has no function to set it again)
            torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True
    return db


def samples():
    """pytest params: (module name, training, sample) for every sample of every mode torch tests."""
    params = []
    for info in module_db():
        name = info.module_cls.__name__
        if info.module_cls is not getattr(torch.nn, name, None) or name not in MODULES:
            continue
        for training in (True, False) if info.train_and_eval_differ else (True,):
            for index, sample in enumerate(info.module_inputs_func(info, device="cpu", dtype=torch.float64,
                                                                   requires_grad=True, training=training)):
                desc = sample.desc or "default"
                marks = EXPECTED.get((name, training, sample.desc), ())
                params.append(pytest.param(name, training, sample, marks=marks,
                                           id=f"{name}-{'train' if training else 'eval'}-{index}-{desc}"))
    return params


def arrays(values):
    return [v.detach().numpy().copy() if isinstance(v, torch.Tensor) else v for v in values]


@pytest.mark.parametrize("name,training,sample", samples())
def test_torch_sample_matches(name, training, sample):
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(*args, **kwargs).to(torch.float64).train(training)
    manual_module = getattr(mnn, name)(*args, **kwargs, dtype="float64").train(training)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    assert not sample.forward_input.kwargs, "keyword forward inputs are not used by these modules' samples"
    comparisons = check_pair(torch_module, manual_module, tuple(arrays(sample.forward_input.args)), "float64")
    failing = [c.describe() for c in comparisons if not c.passed]
    assert not failing, f"{name}{args}{kwargs}: " + "; ".join(failing)
    assert {c.name for c in comparisons} >= {"output"} | {f"grad.{n}" for n, _ in torch_module.named_parameters()}


def test_importing_module_db_leaves_torch_global_flags_settable():
    module_db()
    assert not torch.backends.flags_frozen()
    torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark  # raises while the flags are frozen


def test_every_module_has_samples():
    names = {param.values[0] for param in samples()}
    assert names == set(MODULES)
    assert len(samples()) >= 20
