"""Recurrent layers beyond the module catalogue: LSTMCell with a given (h0, c0), torch's parameters and init,
refusals and input errors, the backward protocol of several outputs, and the char-RNN learning the shipped text.
(The catalogue's cases in compare/catalogue/module_cases.py run through tests/checks/test_modules.py; torch's own ModuleInfo
samples through tests/torch_samples/test_rnn.py.)"""
import numpy as np
import pytest
import torch

import manual
import manual.models
import manual.nn as mnn
import torch_ref
import torch_ref.models
from compare.catalogue import training_cases
from compare.catalogue.batches import TextWindows, load_text
from compare.catalogue.case_types import Case
from compare.checks.inspection import assert_same_summary
from compare.engine.step_loop import run_case
from compare.engine.twins import to_numpy
from compare.testing import assert_module_matches


class ManualLSTMCellState(mnn.LSTMCell):
    """LSTMCell with h0 and c0 as separate arguments (torch's LSTMCell takes the tuple, which the generic check's
    flat argument list cannot pass); backward returns one gradient per argument."""

    def forward(self, input, h0, c0):
        return super().forward(input, (h0, c0))

    def backward(self, grad_h, grad_c=None):
        grad_input, (grad_h0, grad_c0) = super().backward(grad_h, grad_c)
        return grad_input, grad_h0, grad_c0


class TorchLSTMCellState(torch.nn.LSTMCell):
    def forward(self, input, h0, c0):
        return super().forward(input, (h0, c0))


@pytest.mark.parametrize("batch, bias", [((5,), True), ((), False)], ids=["batched", "unbatched-nobias"])
def test_lstm_cell_with_state_matches_torch_and_finite_differences(batch, bias):
    torch.manual_seed(0)
    inputs = lambda rng: (2 * rng.standard_normal(batch + (4,)), rng.standard_normal(batch + (3,)),
                          2 * rng.standard_normal(batch + (3,)))
    results = assert_module_matches(ManualLSTMCellState(4, 3, bias=bias), TorchLSTMCellState(4, 3, bias=bias), inputs)
    assert {c.name for c in results["float64"]} >= {"output.0", "output.1", "grad.input", "grad.h0", "grad.c0",
                                                    "grad.weight_ih", "grad.weight_hh"}


def test_lstm_cell_returns_the_state_gradients_as_a_tuple_only_when_given_a_state():
    cell = mnn.LSTMCell(4, 3, dtype="float64")
    x, h0, c0 = (np.random.default_rng(0).standard_normal(shape) for shape in ((2, 4), (2, 3), (2, 3)))
    h, c = cell(x, (h0, c0))
    grad_input, (grad_h0, grad_c0) = cell.backward(np.ones_like(h), None)
    assert grad_input.shape == x.shape and grad_h0.shape == h0.shape and grad_c0.shape == c0.shape
    h, c = cell(x)
    assert cell.backward(None, np.ones_like(c)).shape == x.shape


SPECS = [("RNNCell", (4, 3), {"nonlinearity": "relu"}), ("LSTMCell", (4, 3), {}), ("GRUCell", (4, 3), {"bias": False}),
         ("RNN", (4, 3), {"num_layers": 2, "bidirectional": True}),
         ("RNN", (4, 5), {"bias": False, "batch_first": True}),
         ("LSTM", (4, 3), {"num_layers": 2, "bidirectional": True}), ("GRU", (4, 5), {"num_layers": 3, "bias": False})]


@pytest.mark.parametrize("name, args, kwargs", SPECS, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameters_have_torchs_names_shapes_and_init(name, args, kwargs, dtype):
    manual.manual_seed(0)
    manual_module = getattr(mnn, name)(*args, **kwargs, dtype=dtype)
    torch_module = getattr(torch.nn, name)(*args, **kwargs)
    m_state, t_state = manual_module.state_dict(), torch_module.state_dict()
    assert [(k, v.shape) for k, v in m_state.items()] == [(k, tuple(v.shape)) for k, v in t_state.items()]
    assert all(value.dtype == np.dtype(dtype) for value in m_state.values())
    # U(-1/√hidden, 1/√hidden) for every parameter (a float32 draw may round one ulp past the bound), over fresh
    # modules until there are at least 1000 draws. With the 27 of one RNNCell(4, 3) the std test failed by chance
    # about once in a hundred unseeded runs (its standard error was 0.05); over 1000 draws it is 0.008, and the
    # bounds below are 9 of them away, while a wrong bound (1/hidden, or a normal draw) misses them by 20 or more
    draws = [m_state] + [getattr(mnn, name)(*args, **kwargs, dtype=dtype).state_dict()
                         for _ in range(1000 // sum(value.size for value in m_state.values()))]
    values = np.concatenate([value.ravel() for state in draws for value in state.values()]) * np.sqrt(args[1])
    assert np.abs(values).max() <= 1 + np.finfo(dtype).eps and np.abs(values).max() > 0.98
    assert 0.5 < values.std() < 0.65  # 1/√3 ≈ 0.577 for a uniform distribution
    manual_module.load_state_dict(to_numpy(t_state))  # and torch's state loads as it is


def test_repr_names_the_non_default_arguments_as_torch():
    assert repr(mnn.RNN(3, 4, num_layers=2, bidirectional=True)) == repr(torch.nn.RNN(3, 4, num_layers=2,
                                                                                      bidirectional=True))
    assert repr(mnn.GRUCell(3, 4, bias=False)) == repr(torch.nn.GRUCell(3, 4, bias=False))
    for name in ("LSTM", "GRU"):
        kwargs = {"num_layers": 2, "bias": False, "batch_first": True, "bidirectional": True}
        assert repr(getattr(mnn, name)(3, 4, **kwargs)) == repr(getattr(torch.nn, name)(3, 4, **kwargs))
    assert repr(mnn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity=relu)"  # torch's repr omits it


@pytest.mark.parametrize("build, error, fragment", [
    (lambda: mnn.RNN(3, 4, num_layers=2, dropout=0.5), NotImplementedError, "dropout"),
    (lambda: mnn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "Unknown nonlinearity 'sigmoid'"),
    (lambda: mnn.RNNCell(3, 4, nonlinearity="gelu"), ValueError, "Unknown nonlinearity 'gelu'"),
    (lambda: mnn.RNN(3, 0), ValueError, "greater than zero"),
    (lambda: mnn.RNN(3, 4, num_layers=0), ValueError, "greater than zero"),
])
def test_unsupported_or_invalid_constructors_raise_clearly(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


X = np.zeros((5, 2, 3))
INPUT_ERRORS = [
    ("RNN", {}, (np.zeros((5, 2, 3, 1)),), "Expected input to be 2D or 3D"),
    ("RNN", {}, (np.zeros((5, 2, 2)),), "must be equal to input_size"),
    ("RNN", {"num_layers": 2}, (X, np.zeros((2, 3, 4))), r"Expected hidden size \(2, 2, 4\)"),
    ("RNN", {}, (np.zeros((5, 3)), np.zeros((1, 1, 4))), "unbatched 2-D input, hx should also be 2-D"),
    ("RNN", {}, (X, np.zeros((2, 4))), "batched 3-D input, hx should also be 3-D"),
    ("RNN", {}, (np.zeros((0, 2, 3)),), "sequence length to be larger than 0"),
    ("RNNCell", {}, (np.zeros((2, 2, 3)),), "Expected input to be 1D or 2D"),
    ("RNNCell", {}, (np.zeros((2, 5)),), "inconsistent input_size"),
    ("GRUCell", {}, (np.zeros((2, 3)), np.zeros((3, 4))), "batch size"),
    ("GRUCell", {}, (np.zeros((2, 3)), np.zeros((2, 5))), "inconsistent hidden_size"),
    ("LSTMCell", {}, (np.zeros((2, 3)), np.zeros((2, 4))), "tuple"),
]


@pytest.mark.parametrize("name, kwargs, arguments, fragment", INPUT_ERRORS,
                         ids=[f"{e[0]}-{e[3][:24]}" for e in INPUT_ERRORS])
def test_bad_inputs_raise_naming_the_layer_where_torch_raises_too(name, kwargs, arguments, fragment):
    module = getattr(mnn, name)(3, 4, **kwargs, dtype="float64")
    with pytest.raises((ValueError, TypeError), match=f"{name}\\(3, 4.*{fragment}"):
        module(*arguments)
    with pytest.raises((ValueError, RuntimeError, TypeError)):
        getattr(torch.nn, name)(3, 4, **kwargs).double()(*(torch.from_numpy(a) for a in arguments))


def test_input_of_another_dtype_raises_as_torch():
    """torch's ValueError and message (one of its ModuleInfo error samples), the layer named."""
    with pytest.raises(ValueError, match=r"RNN\(3, 4\): RNN input dtype \(float64\) does not match weight dtype "
                                         r"\(float32\)"):
        mnn.RNN(3, 4)(X)
    with pytest.raises(TypeError, match="does not match the parameters' dtype float32"):
        mnn.GRUCell(3, 4)(X[0])


def test_rnn_backward_protocol():
    rnn = mnn.RNN(3, 4, num_layers=2, dtype="float64")
    rng = np.random.default_rng(0)
    grad_output = rng.standard_normal((5, 2, 4))
    rnn(X + 1)
    without = rnn.backward(grad_output)  # no hx given: dL/d(input) alone; grad_h_n None means zero
    rnn(X + 1)
    with_zeros = rnn.backward(grad_output, np.zeros((2, 2, 4)))
    np.testing.assert_array_equal(without, with_zeros)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        rnn.backward(grad_output)
    output, h_n = rnn(X, np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="grad_output of the output's shape"):
        rnn.backward(grad_output, np.zeros((2, 4)))
    output, h_n = rnn(X, np.zeros((2, 2, 4)))
    grad_input, grad_hx = rnn.backward(grad_output, rng.standard_normal(h_n.shape))
    assert grad_input.shape == X.shape and grad_hx.shape == h_n.shape


def test_forward_leaves_its_arguments_alone():
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 2, 4))
    x_copy, h0_copy = x.copy(), h0.copy()
    rnn = mnn.RNN(3, 4, num_layers=2, dtype="float64")
    output, h_n = rnn(x, h0)
    rnn.backward(np.ones_like(output), np.ones_like(h_n))
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(h0, h0_copy)


def test_text_windows_are_one_hot_characters_and_their_successors():
    data = TextWindows(seq_len=10, batch_size=4)
    x, y = next(data.stream(0, "float64"))
    text, vocab = load_text(), data.vocab
    assert x.shape == (4, 10, len(vocab)) and y.shape == (4, 10) and y.dtype == np.int64
    assert (x.sum(axis=-1) == 1).all()
    for window, targets in zip(x.argmax(-1), y, strict=True):
        read = "".join(vocab[i] for i in window) + vocab[targets[-1]]
        assert read in text and read[1:] == "".join(vocab[i] for i in targets)


def test_char_rnn_learns_the_shipped_text_identically_on_both_backends():
    """100 Adam steps on windows of compare/data/tiny_text.txt, float64, every tensor compared at every step; the
    mean loss of the last 10 steps is well below the first (ln 40 ≈ 3.7 is a uniform guess)."""
    case = Case("charrnn-learns", ("CharRNN", {"vocab_size": training_cases.VOCAB_SIZE, "hidden_size": 32}),
                      training_cases.CE, ("Adam", {"lr": 0.01}), training_cases.TEXT, steps=100)
    result = run_case(case, "float64")
    assert result.passed, result.first_mismatch.describe()
    losses = {side: [getattr(e, side) for e in result.errors if e.name == "loss"] for side in ("manual", "torch")}
    for side, values in losses.items():
        assert np.mean(values[-10:]) < 0.75 * values[0], (side, values[0], values[-10:])


@pytest.mark.parametrize("name, kwargs, shape", [
    ("CharRNN", {"vocab_size": 6, "hidden_size": 5, "num_layers": 2}, (3, 4, 6)),
    ("CharRNN", {"vocab_size": 6, "hidden_size": 5, "num_layers": 2, "cell": "gru"}, (3, 4, 6)),
    ("RNNRegression", {"input_size": 2, "hidden_size": 5, "out_features": 3, "nonlinearity": "relu"}, (3, 4, 2))])
def test_twin_summaries_list_both_outputs_of_the_rnn(name, kwargs, shape):
    torch.manual_seed(0)
    torch_model = getattr(torch_ref.models, name)(**kwargs)
    manual_model = getattr(manual.models, name)(**kwargs)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    assert_same_summary(manual_model, torch_model, shape)
    row = next(row for row in manual.summary(manual_model, shape).layers if row.name == "rnn")
    assert row.output_shape == ((3, 4, 5), (kwargs.get("num_layers", 1), 3, 5))  # (output, h_n)


def test_twin_summaries_list_the_lstms_nested_outputs():
    torch.manual_seed(0)
    kwargs = {"vocab_size": 6, "hidden_size": 5, "cell": "lstm"}
    torch_model = torch_ref.models.CharRNN(**kwargs)
    manual_model = manual.models.CharRNN(**kwargs)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    assert_same_summary(manual_model, torch_model, (3, 4, 6))
    row = next(row for row in manual.summary(manual_model, (3, 4, 6)).layers if row.name == "rnn")
    assert row.output_shape == ((3, 4, 5), ((1, 3, 5), (1, 3, 5)))  # (output, (h_n, c_n))


@pytest.mark.parametrize("module", [manual.models, torch_ref.models], ids=["manual", "torch_ref"])
def test_char_rnn_refuses_an_unknown_cell_or_a_nonlinearity_the_cell_does_not_have(module):
    with pytest.raises(ValueError, match=r"CharRNN: cell must be one of \['gru', 'lstm', 'rnn'\], got 'LSTM'"):
        module.CharRNN(6, 5, cell="LSTM")
    with pytest.raises(ValueError, match="nonlinearity is an option of cell='rnn' only, got 'relu' with cell='gru'"):
        module.CharRNN(6, 5, nonlinearity="relu", cell="gru")
