"""torch's own test samples for the recurrent modules (`torch.testing._internal.common_modules.module_db`):
every sample torch's suite builds for RNNCell, LSTMCell, GRUCell, RNN, LSTM and GRU (unbatched, batch_first,
two layers, bias or not, bidirectional, with and without hx), run by both backends in float64 and float32:
outputs (the LSTM's (output, (h_n, c_n)) flattened), the gradient of every float input (the tuple (h0, c0)
included) and of every parameter, compared with the harness's tolerances (in float32 the error model, with
torch's own error measured against the sample run by torch in float64). The samples are torch's; the module's
arguments and inputs pass to manual unchanged. The LSTM's samples with proj_size > 0 must be refused when built
(manual does not implement projections).

torch's error samples (`module_error_inputs_func`) for the same modules: manual refuses each at the same stage
(construction or forward), with torch's exception type (manual raises ValueError where torch raises a
RuntimeError for a bad input) and a message that contains torch's (`error_regex`)."""
import copy
import re

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.comparison import compare_evaluations
from compare.engine.tolerances import error_model_for, tolerance_for
from compare.engine.twins import TORCH_DTYPES, to_numpy
from tests.torch_samples.loader import module_infos, module_inputs

NAMES = ("RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU")


def unimplemented(sample) -> bool:
    """An LSTM projection (proj_size > 0), which manual refuses when built."""
    return sample.constructor_input.kwargs.get("proj_size", 0) != 0


def samples(dtype: str):
    for info in module_infos(NAMES).values():
        for index, sample in enumerate(module_inputs(info, TORCH_DTYPES[dtype])):
            if not unimplemented(sample):
                yield pytest.param(info.module_cls, sample, dtype, id=f"{info.module_cls.__name__}-{index}-{dtype}")


def test_every_recurrent_module_has_samples_and_only_projections_are_left_out():
    infos = module_infos(NAMES)
    assert sorted(infos) == sorted(NAMES)
    left_out = [sample for info in infos.values() for sample in module_inputs(info) if unimplemented(sample)]
    assert len(left_out) == 16  # torch's 32 LSTM samples: half with proj_size=2
    for sample in left_out:
        with pytest.raises(NotImplementedError, match=r"LSTM: proj_size is not implemented .* proj_size=2"):
            mnn.LSTM(*sample.constructor_input.args, **sample.constructor_input.kwargs)


def error_samples():
    for info in module_infos(NAMES).values():
        for dtype in ("float32", "float64"):
            for index, error in enumerate(info.module_error_inputs_func(info, device="cpu", dtype=TORCH_DTYPES[dtype],
                                                                        requires_grad=True, training=True)):
                yield pytest.param(info.module_cls.__name__, error, id=f"{info.module_cls.__name__}-{index}-{dtype}")


def manual_arguments(value):
    """A sample's values for manual: tensors as arrays, torch dtypes as names, no device."""
    if isinstance(value, dict):
        return {k: manual_arguments(v) for k, v in value.items() if k != "device"}
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return as_numpy(value) if isinstance(value, (torch.Tensor, tuple, list)) else value


@pytest.mark.parametrize("name, error", error_samples())
def test_torch_error_sample_is_refused_with_torchs_message(name, error):
    constructor, forward = error.module_error_input.constructor_input, error.module_error_input.forward_input
    expected = ValueError if error.error_type is RuntimeError else error.error_type
    stage = error.error_on.name
    with pytest.raises(Exception) as raised:  # noqa: PT011 - checked below, torch's type and message
        module = getattr(mnn, name)(*manual_arguments(constructor.args), **manual_arguments(constructor.kwargs))
        stage = "FORWARD_ERROR"
        module(*manual_arguments(forward.args))
    assert stage == error.error_on.name, f"raised at {stage}, torch at {error.error_on.name}: {raised.value}"
    assert isinstance(raised.value, expected), f"{type(raised.value).__name__}: {raised.value}"
    assert re.search(error.error_regex, str(raised.value)), (error.error_regex, str(raised.value))
    assert str(raised.value).startswith(name), raised.value  # the layer is named


def leaves(value) -> list:
    """The arrays or tensors of a value that may nest tuples (LSTMCell's (h, c)), in order."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves(item)]
    return [] if value is None else [value]


EVALUATIONS = 4  # float32: upstream gradients per sample, over which torch's rounding error is pooled


def fresh_leaves(value, dtype: torch.dtype):
    """Float tensors (inside nested tuples) as new leaves in `dtype`, requiring grad as the originals do, so each
    evaluation (and the float64 reference) has its own grads."""
    if isinstance(value, (tuple, list)):
        return tuple(fresh_leaves(v, dtype) for v in value)
    if value is None or not value.is_floating_point():
        return value
    return value.detach().to(dtype, copy=True).requires_grad_(value.requires_grad)


def run_torch(module, args, grads) -> tuple:
    """(outputs, input leaves) of `module(*args)` after backward with `grads` (nested outputs flattened)."""
    outputs = tuple(leaves(module(*args)))
    torch.autograd.backward(list(outputs), [torch.from_numpy(g).to(outputs[0].dtype) for g in grads])
    return outputs, leaves(args)


def as_numpy(value):
    return tuple(as_numpy(v) for v in value) if isinstance(value, (tuple, list)) else to_numpy(value)


def drawn_from(seed: int, name: str, index: int, dtype: str) -> tuple:
    """(module class, sample, dtype) of one sample, with the values another seed draws."""
    info = module_infos([name])[name]
    return info.module_cls, module_inputs(info, TORCH_DTYPES[dtype], seed=seed)[index], dtype


# Hard draws: the float32 gradients of sample 30 (2 layers, bidirectional, tanh, batch_first) sum terms of ~1 to
# ~1e-9. With NumPy's float32 tanh in the recurrence, 10 of seeds 0-299 exceeded the float32 error model (1 with
# four pooled evaluations, and other samples under ATEN_CPU_CAPABILITY=default); with tanh evaluated in float64
# (manual.nn.functional.recurrent._tanh) none do, on any kernel setting. The worst of those draws stay checked.
HARD_DRAWS = [pytest.param(*drawn_from(seed, "RNN", 30, "float32"), id=f"RNN-30-float32-seed{seed}")
              for seed in (72, 108, 115)]


@pytest.mark.parametrize("module_cls, sample, dtype", [*samples("float64"), *samples("float32"), *HARD_DRAWS])
def test_torch_sample_matches(module_cls, sample, dtype):
    constructor, forward = sample.constructor_input, sample.forward_input
    torch.manual_seed(0)
    torch_module = module_cls(*constructor.args, **constructor.kwargs).to(TORCH_DTYPES[dtype])
    manual_module = getattr(mnn, module_cls.__name__)(*constructor.args, **constructor.kwargs, dtype=dtype)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    assert not forward.kwargs

    reference = copy.deepcopy(torch_module).double()
    m_params = dict(manual_module.named_parameters())

    def named(outputs, inputs, module) -> list:
        return ([(f"output.{i}", out) for i, out in enumerate(outputs)]
                + [(f"grad.input{i}", t.grad) for i, t in enumerate(inputs)]
                + [(f"grad.{name}", p.grad) for name, p in module.named_parameters()])

    model = error_model_for(dtype)
    evaluations = []
    for grad_seed in range(1 if model is None else EVALUATIONS):  # float32: the error model pools over them
        for module in (torch_module, reference):
            module.zero_grad()
        manual_module.zero_grad()
        m_outputs = leaves(manual_module(*as_numpy(forward.args)))
        rng = np.random.default_rng(grad_seed + 1)
        grads = [rng.standard_normal(out.shape).astype(dtype) for out in m_outputs]
        inputs = fresh_leaves(forward.args, TORCH_DTYPES[dtype])
        t_outputs, t_inputs = run_torch(torch_module, inputs, grads)
        m_input_grads = leaves(manual_module.backward(*grads))
        assert len(m_input_grads) == len(t_inputs)
        manual_values = [*m_outputs, *m_input_grads,
                         *[m_params[name].grad for name, _ in torch_module.named_parameters()]]
        pairs = [(name, m, to_numpy(t)) for (name, t), m in zip(named(t_outputs, t_inputs, torch_module),
                                                                 manual_values, strict=True)]
        reference_values = None
        if model is not None:
            reference_values = dict(named(*run_torch(reference, fresh_leaves(forward.args, torch.float64), grads), reference))
        evaluations.append((pairs, reference_values))
    failing = [c.describe() for c in compare_evaluations(evaluations, tolerance_for(dtype), model) if not c.passed]
    assert not failing, "; ".join(failing)
