"""torch's own test samples for the conv and pooling modules, run through manual (the third oracle).

`torch.testing._internal.common_modules.module_db` lists, per module, the constructor arguments and inputs
torch's test suite itself uses (`ModuleInfo.module_inputs_func`). Every sample of Conv1d, Conv2d, MaxPool2d,
AvgPool2d and AdaptiveAvgPool2d is built on both sides with the same weights (torch initialises, manual loads
its state_dict) and compared in float64: output, dL/d(input) and every parameter's grad. Skipped, with the
reason, only what manual deliberately lacks (`UNSUPPORTED`).
"""
import inspect

import numpy as np
import pytest
import torch

import manual.nn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import to_numpy
from tests.torch_samples.loader import each_sample, module_infos, module_inputs

MODULES = ("Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d")
# constructor keyword -> (the values manual lacks, why)
UNSUPPORTED = {"padding_mode": (lambda v: v != "zeros", "manual implements padding_mode='zeros' only")}


def samples(name: str):
    info = module_infos([name])[name]
    for i, sample in enumerate(module_inputs(info)):
        yield f"{name}-{i}-{sample.desc or 'default'}", (name, sample)


# one test per module, one subtest per sample (tests/torch_samples/loader.py)
@pytest.mark.parametrize("name", MODULES)
def test_torch_samples_match(name, subtests):
    each_sample(subtests, samples(name), check_sample)


def check_sample(name, sample):
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
    y = manual_module(x_t.detach().numpy())
    if kwargs.get("return_indices"):  # MaxPool2d: (output, indices), the indices exactly torch's
        (y_t, indices_t), (y, indices) = y_t, y
        np.testing.assert_array_equal(indices, to_numpy(indices_t))
    grad_output = np.random.default_rng(1).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.from_numpy(grad_output))
    grad_input = manual_module.backward(grad_output)
    tolerance = tolerance_for("float64")
    manual_params = dict(manual_module.named_parameters())
    errors = [compare_arrays(0, "output", y, to_numpy(y_t), tolerance),
              compare_arrays(0, "grad.input", grad_input, to_numpy(x_t.grad), tolerance)]
    errors += [compare_arrays(0, f"grad.{n}", manual_params[n].grad, to_numpy(p.grad), tolerance)
               for n, p in torch_module.named_parameters()]
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{name} {args} {kwargs}: " + "; ".join(failing)
