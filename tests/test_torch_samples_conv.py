"""torch's own test samples for the conv and pooling modules, run through manual (the third oracle).

`torch.testing._internal.common_modules.module_db` lists, per module, the constructor arguments and inputs
torch's test suite itself uses (`ModuleInfo.module_inputs_func`). Every sample of Conv1d, Conv2d, MaxPool2d,
AvgPool2d and AdaptiveAvgPool2d is built on both sides with the same weights (torch initialises, manual loads
its state_dict) and compared in float64: output, dL/d(input) and every parameter's grad. Skipped, with the
reason, only what manual deliberately lacks (`UNSUPPORTED`).
"""
import inspect
import sys
import types
import unittest

import numpy as np
import pytest
import torch

import manual.nn
from compare.harness import compare_arrays
from compare.tolerances import tolerance_for
from compare.twins import to_numpy

MODULES = ("Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d")
# constructor keyword -> (the values manual lacks, why)
UNSUPPORTED = {"return_indices": (lambda v: bool(v), "manual's MaxPool2d has no return_indices (it refuses it)"),
               "padding_mode": (lambda v: v != "zeros", "manual implements padding_mode='zeros' only")}


def _module_db():
    """torch's module_db, imported without its side effects on the other tests.

    torch's test utilities import `expecttest` for their TestCase base class only, which this project does not
    install, so a plain unittest.TestCase stands in when it is missing. Importing them also freezes
    torch.backends' global flags (`disable_global_flags()`, for torch's own suite), after which setting e.g.
    `torch.backends.cudnn.allow_tf32` raises; the flags are unfrozen again if they were not frozen before.
    """
    try:
        import expecttest  # noqa: F401
    except ImportError:
        stub = types.ModuleType("expecttest")
        stub.TestCase = unittest.TestCase
        sys.modules["expecttest"] = stub
    frozen = torch.backends.flags_frozen()
    from torch.testing._internal.common_modules import module_db
    if not frozen:
        torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True
    return module_db


def _samples():
    torch.manual_seed(0)
    found = []
    for info in _module_db():
        name = info.module_cls.__name__
        if name not in MODULES:
            continue
        samples = info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True, training=True)
        found += [pytest.param(name, sample, id=f"{name}-{i}-{sample.desc or 'default'}")
                  for i, sample in enumerate(samples)]
    return found


SAMPLES = _samples()


def test_every_module_has_samples_and_the_backend_flags_stay_settable():
    assert {param.values[0] for param in SAMPLES} == set(MODULES)
    assert not torch.backends.flags_frozen()
    torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32  # what compare.bench and compare.check do


@pytest.mark.parametrize("name, sample", SAMPLES)
def test_torch_sample_matches(name, sample):
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    for key, (unsupported, reason) in UNSUPPORTED.items():
        if key in kwargs and unsupported(kwargs[key]):
            pytest.skip(f"{key}={kwargs[key]!r}: {reason}")
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(*args, **kwargs).double()
    manual_class = getattr(manual.nn, name)
    takes_dtype = "dtype" in inspect.signature(manual_class).parameters
    manual_module = manual_class(*args, **kwargs, **({"dtype": "float64"} if takes_dtype else {}))
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    (x_t,) = sample.forward_input.args
    assert not sample.forward_input.kwargs, f"{name}: forward keyword arguments {sample.forward_input.kwargs}"
    x_t = x_t.detach().clone().requires_grad_(True)
    y_t = torch_module(x_t)
    grad_output = np.random.default_rng(1).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.from_numpy(grad_output))
    y = manual_module(x_t.detach().numpy())
    grad_input = manual_module.backward(grad_output)
    tolerance = tolerance_for("float64")
    manual_params = dict(manual_module.named_parameters())
    errors = [compare_arrays(0, "output", y, to_numpy(y_t), tolerance),
              compare_arrays(0, "grad.input", grad_input, to_numpy(x_t.grad), tolerance)]
    errors += [compare_arrays(0, f"grad.{n}", manual_params[n].grad, to_numpy(p.grad), tolerance)
               for n, p in torch_module.named_parameters()]
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{name} {args} {kwargs}: " + "; ".join(failing)
