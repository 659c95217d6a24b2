"""Recurrent layers over whole sequences, as torch.nn.RNN, LSTM and GRU: stacked, optionally bidirectional
layers of one cell (`nn.recurrent`'s RNNCell, LSTMCell, GRUCell), sharing one base for torch's arguments and
checks, parameters, layouts and the backward protocol. The math and backprop through time are in
`functional.recurrent` (each cell's step and its derivation) and `functional.recurrent_sequence` (unrolling,
reverse direction, stacking).

input (T, N, input_size), (N, T, input_size) with batch_first, or unbatched (T, input_size); each state (h0,
and c0 for the LSTM) (L·D, N, H), or (L·D, H) unbatched, zeros when omitted (D = 2 if bidirectional, L =
num_layers). forward returns (output (T, N, D·H) in the input's layout, h_n) and for the LSTM (output, (h_n,
c_n)). backward takes one gradient per output (`backward(grad_output, grad_h_n=None)`, the LSTM's
`backward(grad_output, grad_h_n=None, grad_c_n=None)`), None meaning the output does not reach the loss, and
returns dL/d(input), or (dL/d(input), dL/d(hx)) when hx was given (for the LSTM dL/d(hx) = (dL/dh0, dL/dc0)).

Parameters per layer l and direction (suffix "_reverse" for the backward one), G gates (1, 4, 3):
weight_ih_l{l} (G·H, input_size for l = 0, else D·H), weight_hh_l{l} (G·H, H), bias_ih_l{l}, bias_hh_l{l} (G·H,),
each ~ U(-1/√H, 1/√H) as torch. Not implemented (refused when built): dropout between layers other than 0, and
the LSTM's proj_size other than 0.
"""
from functools import partial

import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, kept_on_refusal, resolve_dtype
from manual.nn.module import Module
from manual.nn.recurrent import _check_nonlinearity, _init_parameters, checked_grads

WEIGHT_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class _SequenceBase(Module):
    """What RNN, LSTM and GRU share. Subclasses set `gates`, `state_names` and `_layer`/`_layer_backward`
    (functions of `functional.recurrent_sequence`)."""

    gates = 1
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=None):
        super().__init__()
        self._check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        dtype = resolve_dtype(dtype)
        rows = self.gates * hidden_size
        self._names = []  # (weight_ih, weight_hh, bias_ih, bias_hh) names per layer and direction, torch's order
        for layer in range(num_layers):
            for suffix in ("", "_reverse") if bidirectional else ("",):
                names = [f"{kind}_l{layer}{suffix}" for kind in WEIGHT_KINDS]
                width = input_size if layer == 0 else self._directions * hidden_size
                _init_parameters(self, dict(zip(names, [(rows, width), (rows, hidden_size),
                                                        *([(rows,)] * 2 if bias else [None] * 2)], strict=True)),
                                 hidden_size, dtype)
                self._names.append(names)

    def _check_arguments(self, input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
        """torch's checks, in torch's order and with its messages (prefixed with the layer's name)."""
        name = type(self).__name__
        if (not isinstance(dropout, (int, float, np.integer, np.floating)) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        for what, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {what} should be of type bool, got: {type(value).__name__}")
        for what, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int):
                raise TypeError(f"{name}: {what} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name}: {what} must be greater than zero, got {value}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if dropout != 0:
            raise NotImplementedError(f"{name}: dropout between layers is not implemented in manual (got dropout="
                                      f"{dropout}); only dropout=0 is supported")
        if proj_size != 0:
            raise NotImplementedError(f"{name}: proj_size is not implemented in manual (got proj_size={proj_size}); "
                                      f"only proj_size=0 (no projection) is supported")

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _weights(self):
        return [tuple(None if getattr(self, n) is None else getattr(self, n).data for n in names)
                for names in self._names]

    def _time_major(self, input):
        """x (T, N, I) from the caller's layout, with torch's checks."""
        dtype = self.weight_ih_l0.dtype
        check_float_input(self, input)
        if input.dtype != dtype:  # torch's message, and its ValueError
            raise ValueError(f"{self.label()}: RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({dtype}). Convert input: input.to({dtype}), or convert model: model.to({input.dtype})")
        if input.ndim not in (2, 3):
            raise ValueError(f"{self.label()}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self.label()}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {input.shape[-1]}")
        x = input[:, None] if input.ndim == 2 else input.transpose(1, 0, 2) if self.batch_first else input
        if len(x) == 0:
            raise ValueError(f"{self.label()}: Expected sequence length to be larger than 0 in RNN")
        return x

    def _initial_states(self, hx, input, batch: int) -> tuple:
        """One (L·D, N, H) array per state (zeros when hx is None), with torch's checks."""
        expected = (self.num_layers * self._directions, batch, self.hidden_size)
        dtype = self.weight_ih_l0.dtype
        if hx is None:
            return tuple(np.zeros(expected, dtype) for _ in self.state_names)
        states = self._split_hx(hx)
        for k, state in enumerate(states):
            check_float_input(self, state, dtype)
            if state.ndim != input.ndim:
                kind = "unbatched 2-D" if input.ndim == 2 else "batched 3-D"
                raise ValueError(f"{self.label()}: For {kind} input, hx{self._index(k)} should also be "
                                 f"{input.ndim}-D but got {state.ndim}-D tensor")
            shape = expected if input.ndim == 3 else (expected[0], expected[2])
            if state.shape != shape:
                raise ValueError(f"{self.label()}: Expected hidden{self._index(k)} size {shape}, got "
                                 f"{list(state.shape)}")
        return tuple(state[:, None] if input.ndim == 2 else state for state in states)

    def _index(self, k: int) -> str:
        return f"[{k}]" if len(self.state_names) > 1 else ""

    def _split_hx(self, hx) -> tuple:
        """hx as a tuple of the states (one array here; the LSTM's (h0, c0))."""
        if not isinstance(hx, np.ndarray):
            raise TypeError(f"{self.label()}: hx must be a numpy.ndarray (h0), got {type(hx).__name__}")
        return (hx,)

    def _caller_layout(self, sequence, states, input_ndim: int):
        """(output, states) from time-major (T, N, ·) and (L·D, N, H) back to the input's layout."""
        if input_ndim == 2:
            return sequence[:, 0], tuple(s[:, 0] for s in states)
        return (sequence.transpose(1, 0, 2) if self.batch_first else sequence), states

    def forward(self, input, hx=None):
        x = self._time_major(input)
        h0 = self._initial_states(hx, input, x.shape[1])
        output, finals, saved = F.stacked(x, h0, self._weights(), self._layer, self.bidirectional)
        output, finals = self._caller_layout(output, finals, input.ndim)
        self.save_for_backward((input, hx, output, finals), h0, saved, input.ndim, hx is not None,
                               output.shape, finals[0].shape)
        return (output, finals[0]) if len(finals) == 1 else (output, finals)

    def backward(self, grad_output, *grad_finals):
        saved_state = self.saved_for_backward()
        _, h0, saved, input_ndim, hx_given, output_shape, final_shape = saved_state
        with kept_on_refusal(self, saved_state):
            if len(grad_finals) > len(self.state_names):
                raise TypeError(f"{self.label()}: backward takes {1 + len(self.state_names)} gradients (output, "
                                f"{', '.join(f'{n}_n' for n in self.state_names)}), got {1 + len(grad_finals)}")
            grad_finals += (None,) * (len(self.state_names) - len(grad_finals))
            grad_output, *grad_finals = checked_grads(self, [grad_output, *grad_finals],
                                                      [output_shape] + [final_shape] * len(grad_finals), h0[0].dtype)
        if grad_output is None:
            grad_output = np.zeros(output_shape, h0[0].dtype)
        grad_sequence = (grad_output[:, None] if input_ndim == 2 else grad_output.transpose(1, 0, 2)
                         if self.batch_first else grad_output)
        grad_finals = [None if g is None else g.reshape(h0[0].shape) for g in grad_finals]
        grad_x, grad_h0, param_grads = F.stacked_backward(grad_sequence, grad_finals, h0, self._weights(), saved,
                                                          self._layer_backward, self.bidirectional)
        for names, grads in zip(self._names, param_grads, strict=True):
            self.accumulate_parameter_grads(**dict(zip(names, grads, strict=True)))
        grad_input, grad_hx = self._caller_layout(grad_x, grad_h0, input_ndim)
        if not hx_given:
            return grad_input
        return grad_input, (grad_hx[0] if len(grad_hx) == 1 else grad_hx)

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [f"{name}={value}" for name, value, default in (
            ("num_layers", self.num_layers, 1), ("nonlinearity", getattr(self, "nonlinearity", "tanh"), "tanh"),
            ("bias", self.bias, True), ("batch_first", self.batch_first, False),
            ("bidirectional", self.bidirectional, False)) if value != default]
        return ", ".join(options)


class RNN(_SequenceBase):
    """Stacked Elman layers, as `torch.nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh',
    bias=True, batch_first=False, dropout=0.0, bidirectional=False, dtype=None)`: h_t = φ(x_t W_ihᵀ + b_ih +
    h_{t-1} W_hhᵀ + b_hh), φ = tanh or relu. forward(input, hx=None) -> (output, h_n); backward(grad_output,
    grad_h_n=None). Shapes and protocol: the module docstring; backprop through time: `functional.recurrent`."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None):
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype)
        self.nonlinearity = nonlinearity
        self._layer = partial(F.elman_layer, nonlinearity=nonlinearity)
        self._layer_backward = partial(F.elman_layer_backward, nonlinearity=nonlinearity)

    def backward(self, grad_output, grad_h_n=None):
        return super().backward(grad_output, grad_h_n)


class LSTM(_SequenceBase):
    """Stacked LSTM layers, as `torch.nn.LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, dtype=None)` (proj_size 0 only): the
    LSTMCell (gates i, f, g, o; weights (4H, ·)) over the sequence. forward(input, hx=None) with hx = (h0, c0)
    -> (output, (h_n, c_n)); backward(grad_output, grad_h_n=None, grad_c_n=None) -> dL/d(input), or
    (dL/d(input), (dL/dh0, dL/dc0)) when hx was given. Derivation: `functional.lstm_cell_backward` (one step)
    and `functional.recurrent_sequence` (through time, stacked, bidirectional)."""

    gates = 4
    state_names = ("h", "c")
    _layer = staticmethod(F.lstm_layer)
    _layer_backward = staticmethod(F.lstm_layer_backward)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                         dtype)
        self.proj_size = proj_size

    def _split_hx(self, hx) -> tuple:
        if (not isinstance(hx, (tuple, list)) or len(hx) != 2
                or not all(isinstance(state, np.ndarray) for state in hx)):
            raise TypeError(f"{self.label()}: hx must be None or a tuple (h0, c0) of two numpy.ndarrays, got "
                            f"{type(hx).__name__}" + (f" of {len(hx)} ({', '.join(type(s).__name__ for s in hx)})"
                                                      if isinstance(hx, (tuple, list)) else ""))
        return tuple(hx)

    def backward(self, grad_output, grad_h_n=None, grad_c_n=None):
        return super().backward(grad_output, grad_h_n, grad_c_n)


class GRU(_SequenceBase):
    """Stacked GRU layers, as `torch.nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, dtype=None)`: the GRUCell (gates r, z, n; weights (3H, ·)) over the
    sequence. forward(input, hx=None) -> (output, h_n); backward(grad_output, grad_h_n=None). Derivation:
    `functional.gru_cell_backward` (one step) and `functional.recurrent_sequence` (through time, stacked)."""

    gates = 3
    _layer = staticmethod(F.gru_layer)
    _layer_backward = staticmethod(F.gru_layer_backward)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype)

    def backward(self, grad_output, grad_h_n=None):
        return super().backward(grad_output, grad_h_n)
