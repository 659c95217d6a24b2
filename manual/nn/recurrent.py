"""Recurrent layers: RNNCell, LSTMCell, GRUCell and the stacked Elman RNN; parameters + calls into
`functional.recurrent` (the math and the backprop-through-time derivation live there).

Every parameter starts ~ U(-1/√hidden_size, 1/√hidden_size), as torch. Several inputs and outputs follow the
project's protocol: `backward` takes one gradient per output (None means zero) and returns one gradient per
input that `forward` was given: dL/d(input) alone when hx was omitted, else (dL/d(input), dL/d(hx)).
"""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, resolve_dtype
from manual.nn.module import Module, Parameter


def _init_parameters(module, shapes: dict, hidden_size: int, dtype) -> None:
    """Register each (name: shape) parameter ~ U(-1/√hidden_size, 1/√hidden_size), in order (None: absent)."""
    bound = 1 / np.sqrt(hidden_size) if hidden_size > 0 else 0.0
    rng = random.generator()
    for name, shape in shapes.items():
        if shape is None:
            module.register_parameter(name, None)
        else:
            module.register_parameter(name, Parameter(rng.uniform(-bound, bound, shape).astype(dtype)))


def _check_nonlinearity(owner: str, nonlinearity: str) -> None:
    if nonlinearity not in F.NONLINEARITIES:
        raise ValueError(f"{owner}: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _zeros_if_none(grad, like):
    return np.zeros_like(like) if grad is None else grad


class _CellBase(Module):
    """What RNNCell, LSTMCell and GRUCell share: torch's arguments, parameters and input checks.

    weight_ih (G·H, input_size), weight_hh (G·H, H), bias_ih and bias_hh (G·H,), G = `gates` (1, 4, 3).
    Input (N, input_size) or unbatched (input_size,); each state (N, H) or (H,) like the input, zeros if omitted.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = self.gates * hidden_size
        _init_parameters(self, {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size),
                                "bias_ih": (rows,) if bias else None, "bias_hh": (rows,) if bias else None},
                         hidden_size, resolve_dtype(dtype))

    def _weights(self):
        return (self.weight_ih.data, self.weight_hh.data, *(None if b is None else b.data
                                                            for b in (self.bias_ih, self.bias_hh)))

    def _batched_input(self, input) -> np.ndarray:
        """The input as (N, input_size) (an unbatched one as one row)."""
        check_float_input(self, input, self.weight_ih.dtype)
        if input.ndim not in (1, 2):
            raise ValueError(f"{self.label()}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self.label()}: input has inconsistent input_size: got {input.shape[-1]} "
                             f"expected {self.input_size}")
        return input.reshape(-1, self.input_size)

    def _batched_state(self, state, input, what: str = "hx") -> np.ndarray:
        """A state as (N, H): zeros when None, else checked against the input's batch (torch's messages)."""
        if state is None:
            return np.zeros((1 if input.ndim == 1 else len(input), self.hidden_size), self.weight_ih.dtype)
        check_float_input(self, state, self.weight_ih.dtype)
        if state.ndim != input.ndim:
            raise ValueError(f"{self.label()}: {what} of shape {state.shape} for an input of shape {input.shape}: "
                             f"a {input.ndim}-D input needs a {input.ndim}-D {what}")
        state = state.reshape(-1, state.shape[-1])
        if len(state) != (1 if input.ndim == 1 else len(input)):
            raise ValueError(f"{self.label()}: Input batch size {len(input)} doesn't match {what} batch size "
                             f"{len(state)}")
        if state.shape[-1] != self.hidden_size:
            raise ValueError(f"{self.label()}: {what} has inconsistent hidden_size: got {state.shape[-1]}, "
                             f"expected {self.hidden_size}")
        return state

    def forward(self, input, hx=None):
        """For the cells with one state (RNNCell, GRUCell): h' = `_step`(x, h); LSTMCell has its own."""
        x, h = self._batched_input(input), self._batched_state(hx, input)
        output, saved = self._step(x, h)
        output = output.reshape(input.shape[:-1] + (self.hidden_size,))
        # the caller's arrays (views of what is saved) are locked too, so an edit of them raises
        self.save_for_backward((input, hx, output), x, h, saved, input.shape, hx is not None)
        return output

    def backward(self, grad_output):
        _, x, h, saved, input_shape, hx_given = self.saved_for_backward()
        check_grad_output(self, grad_output, input_shape[:-1] + (self.hidden_size,))
        return self._finish_backward(self._step_backward(grad_output.reshape(h.shape), x, h, saved), input_shape,
                                     hx_given)

    def _finish_backward(self, grads, input_shape, hx_given: bool):
        """Accumulate (dW_ih, dW_hh, db_ih, db_hh) = grads[2:]; return dL/d(input) in the input's shape, with
        dL/d(hx) = grads[1] when hx was given."""
        grad_input, grad_hx, *param_grads = grads
        self.accumulate_parameter_grads(**dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), param_grads,
                                                    strict=True)))
        grad_input = grad_input.reshape(input_shape)
        return (grad_input, grad_hx.reshape(input_shape[:-1] + (-1,))) if hx_given else grad_input

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), φ = tanh or relu, as `torch.nn.RNNCell(input_size, hidden_size,
    bias=True, nonlinearity='tanh', dtype=None)`. forward(input, hx=None) -> h'; backward(grad_output) ->
    dL/d(input), or (dL/d(input), dL/d(hx)) when hx was given. Derivation: `functional.recurrent`."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", dtype=None):
        _check_nonlinearity("RNNCell", nonlinearity)  # torch only fails at the first forward
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, h):
        output = F.rnn_cell(x, h, *self._weights(), self.nonlinearity)
        return output, output  # φ' is read from the output

    def _step_backward(self, grad_output, x, h, output):
        return F.rnn_cell_backward(grad_output, x, h, output, self.weight_ih.data, self.weight_hh.data, self.bias,
                                   self.nonlinearity)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity}")


class LSTMCell(_CellBase):
    """torch.nn.LSTMCell(input_size, hidden_size, bias=True, dtype=None): gates i, f, g, o (weights (4H, ·)).

    forward(input, hx=None) -> (h', c'), hx = (h0, c0) or None (zeros); backward(grad_h, grad_c=None) ->
    dL/d(input), or (dL/d(input), (dL/dh0, dL/dc0)) when hx was given. Derivation: `functional.lstm_cell_backward`.
    """

    gates = 4

    def forward(self, input, hx=None):
        x = self._batched_input(input)
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{self.label()}: hx must be a tuple (h0, c0) of two arrays, got {type(hx).__name__}")
        h, c = (self._batched_state(None if hx is None else hx[k], input, what) for k, what in enumerate(("h0", "c0")))
        h_new, c_new, gates = F.lstm_cell(x, h, c, *self._weights())
        shape = input.shape[:-1] + (self.hidden_size,)
        outputs = h_new.reshape(shape), c_new.reshape(shape)
        self.save_for_backward((input, hx, outputs), x, h, c, c_new, gates, input.shape, hx is not None)
        return outputs

    def backward(self, grad_h, grad_c=None):
        _, x, h, c, c_new, gates, input_shape, hx_given = self.saved_for_backward()
        shape = input_shape[:-1] + (self.hidden_size,)
        for grad in (grad_h, grad_c):
            if grad is not None:
                check_grad_output(self, grad, shape)
        grad_h, grad_c = (_zeros_if_none(g, c_new).reshape(c_new.shape) for g in (grad_h, grad_c))
        grad_input, grad_h0, grad_c0, *param_grads = F.lstm_cell_backward(
            grad_h, grad_c, x, h, c, c_new, gates, self.weight_ih.data, self.weight_hh.data, self.bias)
        grad_input = self._finish_backward((grad_input, None, *param_grads), input_shape, False)
        return (grad_input, (grad_h0.reshape(shape), grad_c0.reshape(shape))) if hx_given else grad_input


class GRUCell(_CellBase):
    """torch.nn.GRUCell(input_size, hidden_size, bias=True, dtype=None): gates r, z, n (weights (3H, ·)),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h. forward(input, hx=None) -> h';
    backward(grad_output) as RNNCell's. Derivation: `functional.gru_cell_backward`."""

    gates = 3

    def _step(self, x, h):
        return F.gru_cell(x, h, *self._weights())

    def _step_backward(self, grad_output, x, h, gates):
        return F.gru_cell_backward(grad_output, x, h, gates, self.weight_ih.data, self.weight_hh.data, self.bias)


class RNN(Module):
    """Stacked Elman layers over a sequence, as `torch.nn.RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False, dtype=None)`.

    input (T, N, input_size), (N, T, input_size) with batch_first, or unbatched (T, input_size); hx (L·D, N, H)
    or unbatched (L·D, H), zeros when omitted (D = 2 if bidirectional else 1, L = num_layers).
    forward(input, hx=None) -> (output (T, N, D·H) in the input's layout, h_n like hx).
    backward(grad_output, grad_h_n=None) -> dL/d(input), or (dL/d(input), dL/d(hx)) when hx was given;
    None for grad_h_n means h_n was not used. Backprop through time: `functional.recurrent`.
    Parameters per layer l and direction (suffix "_reverse" for the backward one): weight_ih_l{l} (H, input_size
    for l = 0, else D·H), weight_hh_l{l} (H, H), bias_ih_l{l}, bias_hh_l{l} (H,).
    dropout between layers is not implemented: any dropout other than 0 raises.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None):
        super().__init__()
        _check_nonlinearity("RNN", nonlinearity)
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"RNN: hidden_size and num_layers must be greater than zero, got {hidden_size} "
                             f"and {num_layers}")
        if dropout != 0:
            raise NotImplementedError(f"RNN: dropout between layers is not implemented in manual (got dropout="
                                      f"{dropout}); only dropout=0 is supported")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        self.dropout, self.bidirectional = dropout, bidirectional
        dtype = resolve_dtype(dtype)
        self._names = []  # (weight_ih, weight_hh, bias_ih, bias_hh) names per layer and direction, torch's order
        for layer in range(num_layers):
            for suffix in ("", "_reverse") if bidirectional else ("",):
                names = [f"{kind}_l{layer}{suffix}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                width = input_size if layer == 0 else self._directions * hidden_size
                _init_parameters(self, dict(zip(names, [(hidden_size, width), (hidden_size, hidden_size),
                                                        *([(hidden_size,)] * 2 if bias else [None] * 2)], strict=True)),
                                 hidden_size, dtype)
                self._names.append(names)

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _weights(self):
        return [tuple(None if getattr(self, n) is None else getattr(self, n).data for n in names)
                for names in self._names]

    def _time_major(self, input, hx):
        """(x (T, N, I), h0 (L·D, N, H)) from the caller's layout, with torch's checks."""
        dtype = self.weight_ih_l0.dtype
        check_float_input(self, input, dtype)
        if input.ndim not in (2, 3):
            raise ValueError(f"{self.label()}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self.label()}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {input.shape[-1]}")
        x = input[:, None] if input.ndim == 2 else input.transpose(1, 0, 2) if self.batch_first else input
        if len(x) == 0:
            raise ValueError(f"{self.label()}: Expected sequence length to be larger than 0 in RNN")
        expected = (self.num_layers * self._directions, x.shape[1], self.hidden_size)
        if hx is None:
            return x, np.zeros(expected, dtype)
        check_float_input(self, hx, dtype)
        if hx.ndim != input.ndim:
            kind = "unbatched 2-D" if input.ndim == 2 else "batched 3-D"
            raise ValueError(f"{self.label()}: For {kind} input, hx should also be {input.ndim}-D but got "
                             f"{hx.ndim}-D tensor")
        h0 = hx[:, None] if input.ndim == 2 else hx
        if h0.shape != expected:
            raise ValueError(f"{self.label()}: Expected hidden size {expected}, got {list(h0.shape)}")
        return x, h0

    def _caller_layout(self, sequence, state, input_ndim: int):
        """(output, h_n) from time-major (T, N, ·) and (L·D, N, H) back to the input's layout."""
        if input_ndim == 2:
            return sequence[:, 0], state[:, 0]
        return (sequence.transpose(1, 0, 2) if self.batch_first else sequence), state

    def forward(self, input, hx=None):
        x, h0 = self._time_major(input, hx)
        output, h_n, saved = F.rnn(x, h0, self._weights(), self.nonlinearity, self.bidirectional)
        output, h_n = self._caller_layout(output, h_n, input.ndim)
        self.save_for_backward((input, hx, output, h_n), h0, saved, input.ndim, hx is not None, output.shape, h_n.shape)
        return output, h_n

    def backward(self, grad_output, grad_h_n=None):
        _, h0, saved, input_ndim, hx_given, output_shape, h_n_shape = self.saved_for_backward()
        check_grad_output(self, grad_output, output_shape)
        if grad_h_n is not None:
            check_grad_output(self, grad_h_n, h_n_shape)
            grad_h_n = grad_h_n.reshape(h0.shape)
        grad_sequence = (grad_output[:, None] if input_ndim == 2 else grad_output.transpose(1, 0, 2)
                         if self.batch_first else grad_output)
        grad_x, grad_h0, param_grads = F.rnn_backward(grad_sequence, grad_h_n, h0, self._weights(), saved,
                                                      self.nonlinearity, self.bidirectional)
        for names, grads in zip(self._names, param_grads, strict=True):
            self.accumulate_parameter_grads(**dict(zip(names, grads, strict=True)))
        grad_input, grad_hx = self._caller_layout(grad_x, grad_h0, input_ndim)
        return (grad_input, grad_hx) if hx_given else grad_input

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [f"{name}={value}" for name, value, default in (
            ("num_layers", self.num_layers, 1), ("nonlinearity", self.nonlinearity, "tanh"), ("bias", self.bias, True),
            ("batch_first", self.batch_first, False), ("bidirectional", self.bidirectional, False))
            if value != default]
        return ", ".join(options)
