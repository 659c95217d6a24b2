"""torch's own error samples (`ModuleInfo.module_error_inputs_func` of module_db): the constructor arguments and
inputs torch's suite expects its modules to refuse. For every module of the pooling, normalization, embedding
and loss families that manual has, each sample is run on both sides: torch refuses it (with the error its suite
expects, at the stage it expects), and manual refuses it too, at that stage or earlier, with a message naming
the module. (tests/torch_samples/loader.py loads them.)
"""
import re

import torch

import manual.nn as mnn
from tests.torch_samples.loader import each_sample, module_infos

FAMILIES = ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding",
            "L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
            "CrossEntropyLoss")


def error_samples(names=FAMILIES) -> list:
    """(label, (module name, error sample)) for each of torch's error samples of the modules named."""
    found = []
    for name, info in module_infos(names).items():
        if info.module_error_inputs_func is None:
            continue
        for index, sample in enumerate(info.module_error_inputs_func(info, device="cpu", dtype=torch.float64,
                                                                     requires_grad=True, training=True)):
            found.append((f"{name}-{index}-{sample.error_regex[:40]}", (name, sample)))
    return found


def arrays(value):
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, (list, tuple)):
        return type(value)(arrays(v) for v in value)
    if isinstance(value, dict):
        return {k: arrays(v) for k, v in value.items()}
    return value


def refusal_stage(build, forward_input, convert):
    """"construction" or "forward" (where it raised, with the error), or ("accepted", None)."""
    try:
        module = build()
    except Exception as error:  # noqa: BLE001 - the stage is the result
        return "construction", error
    if forward_input is None:
        return "accepted", None
    try:
        module(*convert(forward_input.args), **convert(forward_input.kwargs))
    except Exception as error:  # noqa: BLE001
        return "forward", error
    return "accepted", None


# one subtest per sample (tests/torch_samples/loader.py)
def test_torch_error_samples_are_refused(subtests):
    each_sample(subtests, error_samples(), check_refusal)


def check_refusal(name, sample):
    inputs = sample.module_error_input
    args, kwargs = inputs.constructor_input.args, inputs.constructor_input.kwargs
    t_stage, t_error = refusal_stage(lambda: getattr(torch.nn, name)(*args, **kwargs), inputs.forward_input,
                                     lambda v: v)
    expected = "construction" if sample.error_on.name == "CONSTRUCTION_ERROR" else "forward"
    assert t_stage == expected and isinstance(t_error, sample.error_type), (t_stage, t_error)
    assert re.search(sample.error_regex, str(t_error))
    m_stage, m_error = refusal_stage(lambda: getattr(mnn, name)(*arrays(args), **arrays(kwargs)),
                                     inputs.forward_input, arrays)
    assert m_stage in ("construction", expected), f"manual accepts what torch refuses ({t_error})"
    assert name in str(m_error), f"manual's message names the module: {m_error!r}"


def test_the_families_have_error_samples():
    assert {name for _, (name, _) in error_samples()} >= {"MaxPool2d", "BatchNorm2d", "Embedding", "NLLLoss"}
