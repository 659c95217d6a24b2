"""torch's own test samples for BatchNorm2d, LayerNorm and Embedding, run through manual.

`torch.testing._internal.common_modules.module_db` lists, per torch.nn module, the constructor arguments and
inputs torch's test suite runs it with (`module_inputs_func`, in training and, where they differ, eval mode).
Each sample is built on both sides in float64 (torch initialises, manual loads its state_dict) and compared by
`compare.checks.module_check.check_pair`: output, dL/d(float input), every parameter's grad and every buffer.
(tests/torch_samples/loader.py loads them.)
"""
import pytest
import torch

import manual.nn as mnn
from compare.checks.module_check import check_pair
from compare.engine.twins import to_numpy
from tests.torch_samples.loader import each_sample, module_infos, module_inputs, trainings

MODULES = ("BatchNorm2d", "LayerNorm", "Embedding")


def samples(names=MODULES) -> list:
    """(label, (module name, training, sample)) for every sample of every mode torch tests."""
    found = []
    for name, info in module_infos(names).items():
        for training in trainings(info):
            for index, sample in enumerate(module_inputs(info, training=training)):
                found.append((f"{name}-{'train' if training else 'eval'}-{index}-{sample.desc or 'default'}",
                              (name, training, sample)))
    return found


def arrays(values):
    return [v.detach().numpy().copy() if isinstance(v, torch.Tensor) else v for v in values]


# one test per module, one subtest per sample (tests/torch_samples/loader.py)
@pytest.mark.parametrize("name", MODULES)
def test_torch_samples_match(name, subtests):
    each_sample(subtests, samples([name]), check_sample)


def check_sample(name, training, sample):
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


def test_every_module_has_samples():
    names = {name for _, (name, _, _) in samples()}
    assert names == set(MODULES)
    assert len(samples()) >= 20
