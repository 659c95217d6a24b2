"""manual.nn.LSTM and GRU beyond the module catalogue (compare/catalogue/module_cases.py, through
tests/checks/test_modules.py) and torch's samples (tests/torch_samples/test_rnn.py): the LSTM with a given
(h0, c0) against torch autograd in float64 and float32 and against finite differences, a NaN in one step
(where torch has NaN, and only there), and bad inputs refused naming the layer where torch refuses them."""
import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import to_numpy
from compare.testing import assert_module_matches


class ManualLSTMState(mnn.LSTM):
    """LSTM with h0 and c0 as separate arguments and (output, h_n, c_n) flat (the generic check passes flat
    arguments); backward returns one gradient per argument."""

    def forward(self, input, h0, c0):
        output, (h_n, c_n) = super().forward(input, (h0, c0))
        return output, h_n, c_n

    def backward(self, grad_output, grad_h_n=None, grad_c_n=None):
        grad_input, (grad_h0, grad_c0) = super().backward(grad_output, grad_h_n, grad_c_n)
        return grad_input, grad_h0, grad_c0


class TorchLSTMState(torch.nn.LSTM):
    def forward(self, input, h0, c0):
        output, (h_n, c_n) = super().forward(input, (h0, c0))
        return output, h_n, c_n


CONFIGS = [({"num_layers": 2, "bidirectional": True}, (5, 3)), ({"batch_first": True, "bias": False}, (3, 5)),
           ({"num_layers": 2}, ())]


@pytest.mark.parametrize("kwargs, batch", CONFIGS, ids=["bidirectional-2layers", "batch_first-nobias", "unbatched"])
def test_lstm_with_a_state_matches_torch_and_finite_differences(kwargs, batch):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    state = (layers,) + batch[:1] if kwargs.get("batch_first") or not batch else (layers, batch[1])
    steps_batch = batch if batch else (5,)
    torch.manual_seed(0)
    results = assert_module_matches(
        ManualLSTMState(4, 3, **kwargs), TorchLSTMState(4, 3, **kwargs),
        lambda rng: (2 * rng.standard_normal(steps_batch + (4,)), rng.standard_normal(state + (3,)),
                     2 * rng.standard_normal(state + (3,))))
    assert {c.name for c in results["float64"]} >= {"output.0", "output.1", "output.2", "grad.input", "grad.h0",
                                                    "grad.c0", "grad.weight_ih_l0", "grad.weight_hh_l0"}


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_a_nan_in_one_step_stays_where_torch_has_it(name):
    """NaN at step 2 of sequence 1: forward, that sequence's later steps (and in the reverse direction its
    earlier ones) and its final states; the other sequence stays finite. Backward as torch's, NaN for NaN."""
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(3, 4, num_layers=2, bidirectional=True).double()
    manual_module = getattr(mnn, name)(3, 4, num_layers=2, bidirectional=True, dtype="float64")
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    x[2, 1, 0] = np.nan
    x_t = torch.from_numpy(x).requires_grad_()
    t_outputs = torch_module(x_t)
    t_outputs = [t_outputs[0], *(t_outputs[1] if name == "LSTM" else [t_outputs[1]])]
    m_outputs = manual_module(x)
    m_outputs = [m_outputs[0], *(m_outputs[1] if name == "LSTM" else [m_outputs[1]])]
    grads = [rng.standard_normal(out.shape) for out in m_outputs]
    torch.autograd.backward(t_outputs, [torch.from_numpy(g) for g in grads])
    grad_input = manual_module.backward(*grads)
    assert np.isfinite(m_outputs[0][:, 0]).all() and np.isnan(m_outputs[0][:, 1]).all()
    tolerance = tolerance_for("float64")
    pairs = [(f"output.{i}", m, t.detach().numpy()) for i, (m, t) in enumerate(zip(m_outputs, t_outputs,
                                                                                  strict=True))]
    pairs += [("grad.input", grad_input, x_t.grad.numpy())]
    pairs += [(f"grad.{n}", p.grad, dict(torch_module.named_parameters())[n].grad.numpy())
              for n, p in manual_module.named_parameters()]
    failing = [e.describe() for e in (compare_arrays(0, n, m, t, tolerance) for n, m, t in pairs) if not e.passed]
    assert not failing, failing


X, H = np.zeros((5, 2, 3)), np.zeros((1, 2, 4))
BAD_INPUTS = [
    ("LSTM", (np.zeros((5, 2, 3, 1)),), ValueError, "Expected input to be 2D or 3D"),
    ("GRU", (np.zeros((5, 2, 2)),), ValueError, "input.size\\(-1\\) must be equal to input_size"),
    ("LSTM", (np.zeros((0, 2, 3)),), ValueError, "sequence length to be larger than 0"),
    ("GRU", (np.zeros((0, 3)),), ValueError, "sequence length to be larger than 0"),
    ("GRU", (X, np.zeros((1, 3, 4))), ValueError, r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"),
    ("GRU", (X, np.zeros((2, 4))), ValueError, "batched 3-D input, hx should also be 3-D"),
    ("GRU", (X, (H,)), TypeError, "hx must be a numpy.ndarray"),
    ("LSTM", (X, H), TypeError, r"hx must be None or a tuple \(h0, c0\)"),
    ("LSTM", (X, (H, H, H)), TypeError, r"hx must be None or a tuple \(h0, c0\)"),
    ("LSTM", (X, (H, np.zeros((1, 2, 5)))), ValueError, r"Expected hidden\[1\] size \(1, 2, 4\), got \[1, 2, 5\]"),
    ("LSTM", (np.zeros((5, 3)), (H, H)), ValueError, r"unbatched 2-D input, hx\[0\] should also be 2-D"),
    ("LSTM", (X.astype(np.float32),), ValueError, "RNN input dtype \\(float32\\) does not match weight dtype"),
    ("GRU", (X, H.astype(np.float32)), TypeError, "does not match the parameters' dtype float64"),
]


@pytest.mark.parametrize("name, arguments, error, fragment", BAD_INPUTS,
                         ids=[f"{e[0]}-{e[3][:30]}" for e in BAD_INPUTS])
def test_bad_inputs_are_refused_naming_the_layer_where_torch_refuses(name, arguments, error, fragment):
    with pytest.raises(error, match=f"^{name}\\(3, 4\\): .*{fragment}"):
        getattr(mnn, name)(3, 4, dtype="float64")(*arguments)

    def torch_value(value):
        return tuple(torch_value(v) for v in value) if isinstance(value, tuple) else torch.from_numpy(value)

    with pytest.raises((ValueError, RuntimeError, TypeError, IndexError, AttributeError)):
        getattr(torch.nn, name)(3, 4).double()(*torch_value(arguments))


@pytest.mark.parametrize("proj_size", [1, 2, -1])
def test_lstm_projections_are_refused_as_not_implemented(proj_size):
    with pytest.raises(NotImplementedError, match=f"LSTM: proj_size is not implemented .*proj_size={proj_size}"):
        mnn.LSTM(3, 4, proj_size=proj_size)
