"""torch's own test samples for the recurrent modules (`torch.testing._internal.common_modules.module_db`):
every sample torch's suite builds for RNNCell, LSTMCell, GRUCell and RNN (unbatched, batch_first, two layers,
bias or not, bidirectional, with and without hx), run by both backends in float64 and float32: outputs, the
gradient of every float input (the tuple (h0, c0) included) and of every parameter, compared with the harness's
tolerances. The samples are torch's; the module's arguments and inputs pass to manual unchanged."""
import sys
import types
import unittest

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.harness import compare_arrays
from compare.tolerances import tolerance_for
from compare.twins import TORCH_DTYPES, to_numpy

try:
    import expecttest  # noqa: F401  (torch's test utilities import it; only its TestCase base class is used)
except ImportError:  # not a dependency: a stand-in is enough to read the sample database
    sys.modules["expecttest"] = types.SimpleNamespace(TestCase=unittest.TestCase, ACCEPT=False)
flags_were_frozen = torch.backends.flags_frozen()
from torch.testing._internal.common_modules import module_db  # noqa: E402

if not flags_were_frozen:  # importing torch's test utilities freezes the torch.backends flags (a guard for torch's
    # own suite, `disable_global_flags`); other tests here set them (cudnn.allow_tf32), so thaw them as they were
    torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True

NAMES = ("RNNCell", "LSTMCell", "GRUCell", "RNN")


def samples(dtype: str):
    for info in (m for m in module_db if m.module_cls.__name__ in NAMES):
        for index, sample in enumerate(info.module_inputs_func(info, device="cpu", dtype=TORCH_DTYPES[dtype],
                                                               requires_grad=True, training=True)):
            yield pytest.param(info.module_cls, sample, dtype, id=f"{info.module_cls.__name__}-{index}-{dtype}")


def leaves(value) -> list:
    """The arrays or tensors of a value that may nest tuples (LSTMCell's (h, c)), in order."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves(item)]
    return [] if value is None else [value]


def as_numpy(value):
    return tuple(as_numpy(v) for v in value) if isinstance(value, (tuple, list)) else to_numpy(value)


@pytest.mark.parametrize("module_cls, sample, dtype", [*samples("float64"), *samples("float32")])
def test_torch_sample_matches(module_cls, sample, dtype):
    constructor, forward = sample.constructor_input, sample.forward_input
    torch.manual_seed(0)
    torch_module = module_cls(*constructor.args, **constructor.kwargs).to(TORCH_DTYPES[dtype])
    manual_module = getattr(mnn, module_cls.__name__)(*constructor.args, **constructor.kwargs, dtype=dtype)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    assert not forward.kwargs

    t_outputs = torch_module(*forward.args)
    t_outputs = t_outputs if isinstance(t_outputs, tuple) else (t_outputs,)
    m_outputs = manual_module(*as_numpy(forward.args))
    m_outputs = m_outputs if isinstance(m_outputs, tuple) else (m_outputs,)
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(out.shape).astype(dtype) for out in m_outputs]
    torch.autograd.backward(list(t_outputs), [torch.from_numpy(g) for g in grads])
    m_grads = manual_module.backward(*grads)

    tolerance = tolerance_for(dtype)
    pairs = [(f"output.{i}", m, t) for i, (m, t) in enumerate(zip(m_outputs, t_outputs))]
    t_inputs = leaves(forward.args)
    m_input_grads = leaves(m_grads)
    assert len(m_input_grads) == len(t_inputs)
    pairs += [(f"grad.input{i}", m, t.grad) for i, (m, t) in enumerate(zip(m_input_grads, t_inputs))]
    m_params = dict(manual_module.named_parameters())
    pairs += [(f"grad.{name}", m_params[name].grad, p.grad) for name, p in torch_module.named_parameters()]
    failing = [c.describe() for c in (compare_arrays(0, name, m, to_numpy(t), tolerance) for name, m, t in pairs)
               if not c.passed]
    assert not failing, "; ".join(failing)


def test_reading_the_samples_left_the_backend_flags_settable():
    assert not torch.backends.flags_frozen()  # tests/test_bench.py and compare.check set cudnn.allow_tf32
