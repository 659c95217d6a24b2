"""Recurrent cells: RNNCell, LSTMCell, GRUCell (one step); parameters + calls into `functional.recurrent` (the
math and its derivation live there). The layers over whole sequences (RNN, LSTM, GRU) are in `nn.rnn`.

Every parameter starts ~ U(-1/√hidden_size, 1/√hidden_size), as torch. Several inputs and outputs follow the
project's protocol: `backward` takes one gradient per output (None means zero) and returns one gradient per
input that `forward` was given: dL/d(input) alone when hx was omitted, else (dL/d(input), dL/d(hx)).

Gradients given to `backward` are checked before anything is computed (`checked_grads`): the output's shape;
one of another real dtype is cast to the layer's, as torch's autograd casts. A refused backward changes nothing:
no .grad is touched and the forward's saved state is kept, so a corrected retry works (`kept_on_refusal`).
"""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, kept_on_refusal, resolve_dtype
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


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


def _check_nonlinearity(owner: str, nonlinearity: str) -> None:
    if nonlinearity not in F.NONLINEARITIES:
        raise ValueError(f"{owner}: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _zeros_if_none(grad, like):
    return np.zeros_like(like) if grad is None else grad


def checked_grads(owner, grads, shapes, dtype) -> list:
    """Each gradient given to `owner.backward` (None stays None) with the shape of its output, in `dtype`: one of
    another real dtype is cast, as torch's autograd casts every incoming gradient (manual.nn._checks)."""
    return [None if grad is None else check_grad_output(owner, grad, shape, dtype)
            for grad, shape in zip(grads, shapes, strict=True)]


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
        check_float_input(self, input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{self.label()}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self.label()}: input has inconsistent input_size: got {input.shape[-1]} "
                             f"expected {self.input_size}")
        return input.reshape(-1, self.input_size)

    def _check_dtypes(self, *arrays) -> None:
        """After the shapes, in torch's order: each given array in the parameters' dtype."""
        for array in arrays:
            if array is not None:
                check_float_input(self, array, self.weight_ih.dtype)

    def _batched_state(self, state, input, what: str = "hidden0", dim_name: str = "hidden") -> np.ndarray:
        """A state as (N, H): zeros when None, else checked against the input's batch (torch's messages, which
        name the state `what` in shape errors and `dim_name` in the dimension error)."""
        if state is None:
            return np.zeros((1 if input.ndim == 1 else len(input), self.hidden_size), self.weight_ih.dtype)
        check_float_input(self, state)
        if state.ndim not in (1, 2):
            raise ValueError(f"{self.label()}: Expected {dim_name} to be 1D or 2D, got {state.ndim}D instead")
        if state.ndim != input.ndim:
            raise ValueError(f"{self.label()}: {what} of shape {state.shape} for an input of shape {input.shape}: "
                             f"a {input.ndim}-D input needs a {input.ndim}-D {what}")
        state = state.reshape(-1, state.shape[-1]) if state.ndim == 1 else state
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
        self._check_dtypes(input, hx)
        output, saved = self._step(x, h)
        output = output.reshape(input.shape[:-1] + (self.hidden_size,))
        # the caller's arrays (views of what is saved) are locked too, so an edit of them raises
        self.save_for_backward((input, hx, output), x, h, saved, input.shape, hx is not None)
        return output

    def backward(self, grad_output):
        saved_state = self.saved_for_backward()
        _, x, h, saved, input_shape, hx_given = saved_state
        with kept_on_refusal(self, saved_state):
            (grad_output,) = checked_grads(self, [grad_output], [input_shape[:-1] + (self.hidden_size,)], h.dtype)
            grad_output = _zeros_if_none(grad_output, h)
        return self._finish_backward(self._step_backward(grad_output.reshape(h.shape), x, h, saved), input_shape,
                                     hx_given)

    def _finish_backward(self, grads, input_shape, hx_given: bool):
        """Accumulate (dW_ih, dW_hh, db_ih, db_hh) = grads[2:]; return dL/d(input) in the input's shape, with
        dL/d(hx) = grads[1] when hx was given."""
        grad_input, grad_hx, *param_grads = grads
        self.accumulate_parameter_grads(**dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), param_grads,
                                                    strict=True)))
        grad_input = grad_input.reshape(input_shape)
        return (grad_input, grad_hx.reshape(input_shape[:-1] + (self.hidden_size,))) if hx_given else grad_input

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
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2
                               or any(state is None for state in hx)):
            raise TypeError(f"{self.label()}: hx must be None or a tuple (h0, c0) of two arrays, got "
                            f"{_describe(hx)} (torch refuses a None inside the tuple too)")
        h, c = (self._batched_state(None if hx is None else hx[k], input, f"hidden{k}", f"hx[{k}]") for k in range(2))
        self._check_dtypes(input, *(hx or ()))
        h_new, c_new, gates = F.lstm_cell(x, h, c, *self._weights())
        shape = input.shape[:-1] + (self.hidden_size,)
        outputs = h_new.reshape(shape), c_new.reshape(shape)
        self.save_for_backward((input, hx, outputs), x, h, c, c_new, gates, input.shape, hx is not None)
        return outputs

    def backward(self, grad_h, grad_c=None):
        saved_state = self.saved_for_backward()
        _, x, h, c, c_new, gates, input_shape, hx_given = saved_state
        shape = input_shape[:-1] + (self.hidden_size,)
        with kept_on_refusal(self, saved_state):
            grads = checked_grads(self, [grad_h, grad_c], [shape, shape], c_new.dtype)
        grad_h, grad_c = (_zeros_if_none(g, c_new).reshape(c_new.shape) for g in grads)
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
