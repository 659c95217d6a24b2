"""Edges of every recurrent module (issue 20), each against torch 2.13 in float64: constructor arguments torch
refuses, a None inside LSTMCell's hx, zero batch, gradients through the final states only, integer gradients
(cast, as torch casts them), gradients of another float dtype (refused, changing nothing: no .grad touched,
the forward's state kept so a corrected retry works)."""
import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import to_numpy

SEQUENCES = ("RNN", "LSTM", "GRU")
SPECS = [("RNNCell", {}), ("GRUCell", {}), ("LSTMCell", {}),
         ("RNN", {"num_layers": 2, "bidirectional": True}), ("RNN", {"batch_first": True, "nonlinearity": "relu"}),
         ("GRU", {"num_layers": 2, "bidirectional": True}), ("GRU", {"bias": False, "batch_first": True}),
         ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}), ("LSTM", {})]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items())}" for name, kwargs in SPECS]


def leaves(value) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def build(name, kwargs):
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(3, 4, **kwargs).double()
    manual_module = getattr(mnn, name)(3, 4, **kwargs, dtype="float64")
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    return manual_module, torch_module


def arguments(name, kwargs, batch: int, seed: int = 0):
    """(input, hx) in float64: hx a tuple (h0, c0) for the LSTMs."""
    rng = np.random.default_rng(seed)
    if name.endswith("Cell"):
        x, state = rng.standard_normal((batch, 3)), (batch, 4)
    else:
        steps, layers = 5, kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        x = rng.standard_normal((batch, steps, 3) if kwargs.get("batch_first") else (steps, batch, 3))
        state = (layers, batch, 4)
    states = [rng.standard_normal(state) for _ in range(2 if name.startswith("LSTM") else 1)]
    return x, (tuple(states) if len(states) == 2 else states[0])


def run_torch(module, x, hx, grads):
    """(outputs, input gradients (x, then each state), parameter gradients) after backward with `grads` (None:
    that output does not reach the loss)."""
    x_t = torch.from_numpy(x).requires_grad_()
    hx_t = tuple(torch.from_numpy(h).requires_grad_() for h in leaves(hx))
    outputs = leaves(module(x_t, hx_t if isinstance(hx, tuple) else hx_t[0]))
    used = [(out, torch.from_numpy(g)) for out, g in zip(outputs, grads, strict=True) if g is not None]
    torch.autograd.backward([out for out, _ in used], [g for _, g in used])
    input_grads = [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in (x_t, *hx_t)]
    return ([out.detach().numpy() for out in outputs], input_grads,
            {n: p.grad.numpy() for n, p in module.named_parameters()})


def run_manual(module, x, hx, grads):
    outputs = leaves(module(x, hx))
    input_grads = leaves(module.backward(*grads))
    return outputs, input_grads, {n: p.grad for n, p in module.named_parameters()}


def assert_same(manual_run, torch_run):
    tolerance = tolerance_for("float64")
    (m_out, m_in, m_par), (t_out, t_in, t_par) = manual_run, torch_run
    assert m_par.keys() == t_par.keys()
    errors = [compare_arrays(0, f"output.{i}", m, t, tolerance)
              for i, (m, t) in enumerate(zip(m_out, t_out, strict=True))]
    errors += [compare_arrays(0, f"grad.input{i}", m, t, tolerance)
               for i, (m, t) in enumerate(zip(m_in, t_in, strict=True))]
    errors += [compare_arrays(0, f"grad.{n}", m_par[n], t, tolerance) for n, t in t_par.items()]
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, failing


@pytest.mark.parametrize("name", SEQUENCES)
@pytest.mark.parametrize("args, kwargs, error, fragment", [
    ((3, 5), {"bias": 1}, TypeError, "bias should be of type bool, got: int"),
    ((3, 5), {"batch_first": "False"}, TypeError, "batch_first should be of type bool, got: str"),
    ((0, 5), {}, ValueError, "input_size must be greater than zero"),
    ((-1, 5), {}, ValueError, "input_size must be greater than zero"),
    ((3.0, 5), {}, TypeError, "input_size should be of type int, got: float"),
    ((3, 5.0), {}, TypeError, "hidden_size should be of type int, got: float"),
    ((3, 5), {"dropout": 1.5}, ValueError, "dropout should be a number in range"),
    ((3, 5), {"num_layers": 0}, ValueError, "num_layers must be greater than zero"),
], ids=["bias=1", "batch_first=str", "input_size=0", "input_size=-1", "input_size-float", "hidden_size-float",
        "dropout=1.5", "num_layers=0"])
def test_constructor_refuses_what_torch_refuses_naming_the_layer(name, args, kwargs, error, fragment):
    with pytest.raises(error, match=f"^{name}: {fragment}"):
        getattr(mnn, name)(*args, **kwargs)
    with pytest.raises(error, match=fragment):
        getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("name", SEQUENCES)
def test_dropout_between_layers_is_refused_as_not_implemented(name):
    """torch accepts it; manual has no inter-layer dropout, so it refuses rather than computing without it."""
    getattr(torch.nn, name)(3, 5, num_layers=2, dropout=0.5)
    with pytest.raises(NotImplementedError, match=f"{name}: dropout between layers is not implemented"):
        getattr(mnn, name)(3, 5, num_layers=2, dropout=0.5)
    getattr(mnn, name)(3, 5, num_layers=2, dropout=0)


@pytest.mark.parametrize("position", [0, 1])
def test_lstm_cell_refuses_a_none_inside_hx_as_torch(position):
    """Formerly a None c0 (or h0) was taken as zeros; torch refuses the call."""
    x, state = np.zeros((2, 3)), np.zeros((2, 4))
    hx = (None, state) if position == 0 else (state, None)
    with pytest.raises(TypeError, match=r"LSTMCell\(3, 4\): hx must be None or a tuple \(h0, c0\) of two arrays"):
        mnn.LSTMCell(3, 4, dtype="float64")(x, hx)
    with pytest.raises(AttributeError):  # torch's own refusal
        torch.nn.LSTMCell(3, 4).double()(torch.from_numpy(x), tuple(None if h is None else torch.from_numpy(h)
                                                                     for h in hx))


@pytest.mark.parametrize("name, kwargs", SPECS, ids=IDS)
def test_zero_batch_gives_empty_results_and_zero_parameter_gradients_as_torch(name, kwargs):
    manual_module, torch_module = build(name, kwargs)
    x, hx = arguments(name, kwargs, batch=0)
    outputs = leaves(manual_module(x, hx))
    grads = [np.zeros(out.shape) for out in outputs]
    manual_run = run_manual(manual_module, x, hx, grads)
    assert all(grad is not None and not grad.any() for grad in manual_run[2].values())
    assert_same(manual_run, run_torch(torch_module, x, hx, grads))


PARTIAL = [pytest.param(name, kwargs, used, id=f"{i}-{'-'.join(('output', 'h_n', 'c_n')[k] for k in used)}")
           for (name, kwargs), i in zip(SPECS, IDS, strict=True) if name in SEQUENCES
           for used in ([(1,), (0,), (2,), (1, 2)] if name == "LSTM" else [(1,), (0,)])]


@pytest.mark.parametrize("name, kwargs, used", PARTIAL)
def test_gradient_through_some_outputs_only_matches_torch(name, kwargs, used):
    """backward(None, grad_h_n): the loss reads h_n only (formerly refused); the LSTM's None for c_n or h_n."""
    manual_module, torch_module = build(name, kwargs)
    x, hx = arguments(name, kwargs, batch=2)
    rng = np.random.default_rng(1)
    outputs = leaves(manual_module(x, hx))
    grads = [rng.standard_normal(out.shape) if i in used else None for i, out in enumerate(outputs)]
    assert_same(run_manual(manual_module, x, hx, grads), run_torch(torch_module, x, hx, grads))


@pytest.mark.parametrize("name, kwargs", SPECS, ids=IDS)
def test_integer_gradients_are_cast_to_the_layers_dtype_as_torch(name, kwargs):
    manual_module, torch_module = build(name, kwargs)
    x, hx = arguments(name, kwargs, batch=2)
    rng = np.random.default_rng(1)
    grads = [rng.integers(-3, 4, out.shape) for out in leaves(manual_module(x, hx))]
    manual_run = run_manual(manual_module, x, hx, grads)
    assert all(g.dtype == np.float64 for g in manual_run[1])
    assert_same(manual_run, run_torch(torch_module, x, hx, [g.astype(np.float64) for g in grads]))


@pytest.mark.parametrize("name, kwargs", SPECS, ids=IDS)
def test_a_refused_backward_changes_nothing_and_a_corrected_retry_works(name, kwargs):
    """A complex gradient and a gradient of the wrong shape: no .grad touched, the forward's state kept; the retry
    matches torch."""
    manual_module, torch_module = build(name, kwargs)
    x, hx = arguments(name, kwargs, batch=2)
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(out.shape) for out in leaves(manual_module(x, hx))]
    with pytest.raises(TypeError, match=f"^{name}\\(3, 4.*backward expected a real grad_output"):
        manual_module.backward(*grads[:-1], grads[-1].astype(np.complex128))
    with pytest.raises(ValueError, match=f"^{name}\\(3, 4.*grad_output of the output's shape"):
        manual_module.backward(*grads[:-1], grads[-1][..., :1])
    assert all(p.grad is None for p in manual_module.parameters())
    input_grads = leaves(manual_module.backward(*grads))
    manual_run = input_grads, {n: p.grad for n, p in manual_module.named_parameters()}
    assert_same(([], *manual_run), ([], *run_torch(torch_module, x, hx, grads)[1:]))
