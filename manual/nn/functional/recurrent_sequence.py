"""Whole sequences through stacked, optionally bidirectional layers of one recurrent cell (Elman, LSTM, GRU),
time-major: x (T, N, I), states (L·D, N, H) in torch's order l0, l0_reverse, l1, ... (D = 2 if bidirectional).

One layer, one direction, is the cell unrolled over t = 1..T with shared weights (the reverse direction runs
t = T..1: its step t reads x_t and h_{t+1}, and its final state is the one after x_1). Backprop through time is
the Elman derivation of `functional.recurrent` with the cell's own step backward: the state gradient δ_t =
dL/dh_t (and for the LSTM δc_t = dL/dc_t) is the output gradient G_t plus what step t+1 sends back,

    δ_T = G_T + dL/dh_n,   δ_{t-1} = G_{t-1} + (dL/dh_{t-1} of step t given δ_t)      (LSTM: δc_T = dL/dc_n, and
                                                                                       δc_{t-1} = δc_t ⊙ f_t, etc.)

and dL/dh_0 (dL/dc_0) is what step 1 sends back. Each step's gradient at its two affine maps, dA_t (for the GRU a
separate one for the hidden map, as r scales h_n), is kept; the weight gradients are then one (T·N)-row product
each, dL/dW_ih = Σ_t dA_tᵀ x_t and dL/dW_hh = Σ_t dA_tᵀ h_{t-1}, and dL/dx_t = dA_t W_ih. The forward likewise
computes x_t W_ihᵀ + b_ih for all steps in one product before the loop, as torch does on the CPU.

Stacking: layer l reads layer l-1's output sequence (both directions concatenated on the feature dim), so the
backward visits the layers top-down: the output gradient splits into the directions' halves, and layer l's
dL/dx, summed over its directions, is layer l-1's output gradient.

A layer function is `layer(x, state, weights, reverse) -> (outputs (T, N, H), final state, saved)` and its
backward `layer_backward(grad_outputs, grad_final, x, state, weights, saved, reverse) -> (dL/dx, dL/d(state),
[dW_ih, dW_hh, db_ih, db_hh])`, where a state is a tuple ((h,) or (h, c)) and a None in grad_final means zero.
"""
import numpy as np

from manual.nn.functional.linear import linear
from manual.nn.functional.recurrent import (
    affine_pair_backward,
    gru_gates,
    gru_gates_backward,
    lstm_gates,
    lstm_gates_backward,
    rnn_layer,
    rnn_layer_backward,
)


def _steps(length: int, reverse: bool):
    return reversed(range(length)) if reverse else range(length)


def _backward_steps(length: int, reverse: bool):
    return range(length) if reverse else reversed(range(length))


def _previous(states, first, reverse: bool):
    """h_{t-1} for every step t (h_{t+1} when `reverse`), `first` (the initial state) where there is none."""
    return np.concatenate([states[1:], first[None]] if reverse else [first[None], states[:-1]])


def _zeros_if_none(grad, like):
    return np.zeros_like(like) if grad is None else grad


def elman_layer(input, state, weights, reverse: bool = False, nonlinearity: str = "tanh"):
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    states = rnn_layer(input, state[0], weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse)
    return states, (states[0] if reverse else states[-1],), states


def elman_layer_backward(grad_outputs, grad_final, input, state, weights, saved, reverse: bool = False,
                         nonlinearity: str = "tanh"):
    grad_input, grad_h0, *param_grads = rnn_layer_backward(grad_outputs, grad_final[0], input, state[0], saved,
                                                           weights[0], weights[1], weights[2] is not None,
                                                           nonlinearity, reverse)
    return grad_input, (grad_h0,), param_grads


def lstm_layer(input, state, weights, reverse: bool = False):
    """The LSTM cell (`functional.lstm_cell`) over x (T, N, I) from state (h0, c0)."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    (h, c), hidden = state, state[0].shape[-1]
    projected = linear(input, weight_ih, bias_ih)
    hs, cs = (np.empty(projected.shape[:-1] + (hidden,), projected.dtype) for _ in range(2))
    gates: list = [None] * len(input)
    for t in _steps(len(input), reverse):
        h, c, gates[t] = lstm_gates(linear(h, weight_hh, bias_hh) + projected[t], c)
        hs[t], cs[t] = h, c
    return hs, (h, c), (hs, cs, gates)


def lstm_layer_backward(grad_outputs, grad_final, input, state, weights, saved, reverse: bool = False):
    """BPTT through `lstm_layer` (module docstring; the step's derivation is `functional.lstm_cell_backward`)."""
    (h0, c0), (hs, cs, gates) = state, saved
    carried_h, carried_c = (_zeros_if_none(g, like) for g, like in zip(grad_final, state, strict=True))
    previous_c = _previous(cs, c0, reverse)
    grad_pre = np.empty(hs.shape[:-1] + (4 * hs.shape[-1],), hs.dtype)
    for t in _backward_steps(len(input), reverse):
        grad_pre[t], carried_c = lstm_gates_backward(grad_outputs[t] + carried_h, carried_c, previous_c[t], cs[t],
                                                     gates[t])
        carried_h = grad_pre[t] @ weights[1]
    grad_input, _, *param_grads = affine_pair_backward(grad_pre, grad_pre, input, _previous(hs, h0, reverse),
                                                       weights[0], weights[1], weights[2] is not None)
    return grad_input, (carried_h, carried_c), param_grads


def gru_layer(input, state, weights, reverse: bool = False):
    """The GRU cell (`functional.gru_cell`) over x (T, N, I) from state (h0,)."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    h = state[0]
    projected = linear(input, weight_ih, bias_ih)
    hs = np.empty(projected.shape[:-1] + (h.shape[-1],), projected.dtype)
    gates: list = [None] * len(input)
    for t in _steps(len(input), reverse):
        h, gates[t] = gru_gates(projected[t], linear(h, weight_hh, bias_hh), h)
        hs[t] = h
    return hs, (h,), (hs, gates)


def gru_layer_backward(grad_outputs, grad_final, input, state, weights, saved, reverse: bool = False):
    """BPTT through `gru_layer` (module docstring; the step's derivation is `functional.gru_cell_backward`)."""
    (h0,), (hs, gates) = state, saved
    carried = _zeros_if_none(grad_final[0], h0)
    previous = _previous(hs, h0, reverse)
    grad_ih = np.empty(hs.shape[:-1] + (3 * hs.shape[-1],), hs.dtype)
    grad_hh = np.empty_like(grad_ih)
    for t in _backward_steps(len(input), reverse):
        grad_ih[t], grad_hh[t], direct = gru_gates_backward(grad_outputs[t] + carried, previous[t], gates[t])
        carried = grad_hh[t] @ weights[1] + direct
    grad_input, _, *param_grads = affine_pair_backward(grad_ih, grad_hh, input, previous, weights[0], weights[1],
                                                       weights[2] is not None)
    return grad_input, (carried,), param_grads


def stacked(input, hx, weights, layer, bidirectional: bool = False):
    """Stacked layers over x (T, N, I) from hx, a tuple of states (L·D, N, H) ((h0,) or (h0, c0)).

    weights: one (weight_ih, weight_hh, bias_ih or None, bias_hh or None) per layer and direction, torch's order.
    Returns (output (T, N, D·H), final states like hx, saved for `stacked_backward`).
    """
    directions = 2 if bidirectional else 1
    layer_input, layer_inputs, finals, saved = input, [], [], []
    for first in range(0, len(weights), directions):
        outputs = []
        for k in range(first, first + directions):
            output, final, kept = layer(layer_input, tuple(s[k] for s in hx), weights[k], reverse=k > first)
            outputs.append(output)
            finals.append(final)
            saved.append(kept)
        layer_inputs.append(layer_input)
        layer_input = outputs[0] if directions == 1 else np.concatenate(outputs, axis=-1)
    final_states = tuple(np.stack([final[j] for final in finals]) for j in range(len(hx)))
    return layer_input, final_states, (layer_inputs, saved)


def stacked_backward(grad_output, grad_finals, hx, weights, saved, layer_backward, bidirectional: bool = False):
    """Backprop through `stacked`, layers top-down. grad_output (T, N, D·H); grad_finals one (L·D, N, H) or None
    per state. Returns (dL/dx (T, N, I), dL/dhx like hx, [(dW_ih, dW_hh, db_ih, db_hh) per layer and direction])."""
    layer_inputs, kept = saved
    directions, hidden = (2 if bidirectional else 1), hx[0].shape[-1]
    grad_hx, param_grads = tuple(np.empty_like(s) for s in hx), [None] * len(weights)
    grad_layer_output = grad_output
    for layer in reversed(range(len(layer_inputs))):
        grad_input = None
        for d in range(directions):
            k = layer * directions + d
            grad_x, grad_state, param_grads[k] = layer_backward(
                grad_layer_output[..., d * hidden:(d + 1) * hidden],
                tuple(None if g is None else g[k] for g in grad_finals), layer_inputs[layer],
                tuple(s[k] for s in hx), weights[k], kept[k], reverse=d == 1)
            for j, grad in enumerate(grad_state):
                grad_hx[j][k] = grad
            grad_input = grad_x if grad_input is None else grad_input + grad_x
        grad_layer_output = grad_input
    return grad_layer_output, grad_hx, param_grads
