"""Recurrent cells (Elman tanh/ReLU, LSTM, GRU), one Elman layer over a sequence, and backprop through time.

Shapes (torch's): a step's input x (N, I), state h (N, H); weight_ih (H, I), weight_hh (H, H), bias_ih and
bias_hh (H,); the LSTM and GRU cells stack 4 and 3 such blocks along dim 0 (gates i, f, g, o and r, z, n;
their derivations are in `lstm_cell_backward`, `gru_cell_backward`). Sequences are time-major here: x (T, N, I),
output (T, N, H) (modules transpose batch_first).

Cell:  z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh,   h' = φ(z),   φ = tanh or relu.
Backward, with G = dL/dh' (N, H):  dZ = G ⊙ φ'(z), φ' read from the output (1 - h'² for tanh, [h' > 0] for
relu: torch's subgradient 0 at 0);  dL/dx = dZ W_ih,  dL/dh = dZ W_hh,  dL/dW_ih = dZᵀ x,  dL/dW_hh = dZᵀ h,
dL/db_ih = dL/db_hh = Σ_rows dZ  (the two affine maps of `functional.linear`, fed the same dZ).

Backprop through time (one layer, one direction). Unrolled over t = 1..T,
    z_t = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh,   h_t = φ(z_t),   output y_t = h_t,   h_n = h_T.
h_t reaches the loss twice: directly through y_t (gradient G_t) and through h_{t+1}, which reads it. So the
total derivative δ_t = dL/dh_t obeys a recursion backwards in time:
    δ_T = G_T + dL/dh_n,       δ_{t-1} = G_{t-1} + dZ_t W_hh,       dZ_t = δ_t ⊙ φ'(z_t),
and dL/dh_0 = dZ_1 W_hh. The weights are shared by every step, so their gradients sum over the steps:
    dL/dW_ih = Σ_t dZ_tᵀ x_t,   dL/dW_hh = Σ_t dZ_tᵀ h_{t-1},   dL/db = Σ_t Σ_rows dZ_t,   dL/dx_t = dZ_t W_ih.
Only the recursion through δ is sequential; the sums are one (T·N)-row product each, after the loop (and the
forward's input map x_t W_ihᵀ + b_ih is one product for all steps before its loop, as torch does on the CPU).
The product of T Jacobians diag(φ'(z_t)) W_hh in δ is why gradients vanish or explode over long sequences.

Stacked and bidirectional layers of any of the three cells: `functional.recurrent_sequence`.
"""
import numpy as np

from manual.nn.functional.activation import relu, relu_backward, sigmoid, sigmoid_backward, tanh_backward
from manual.nn.functional.linear import linear, linear_backward


def _tanh(x):
    """tanh, in float32 evaluated in float64 and rounded once. NumPy's float32 (SIMD) tanh is a few ulps off, and
    through the recurrence those errors add up, beyond what torch's float32 kernels accumulate (its baseline
    kernels use libm's ≤ 1 ulp tanhf): torch's RNN samples then exceeded the float32 error model under
    ATEN_CPU_CAPABILITY=default (tests/torch_samples/test_rnn.py)."""
    return np.tanh(x, dtype=np.float64).astype(x.dtype) if x.dtype == np.float32 else np.tanh(x)


NONLINEARITIES = {"tanh": _tanh, "relu": relu}
NONLINEARITY_BACKWARDS = {"tanh": tanh_backward, "relu": relu_backward}  # (G, output) -> G ⊙ φ'


def affine_pair_backward(grad_ih, grad_hh, input, hx, weight_ih, weight_hh, has_bias: bool = True):
    """The backward of the two affine maps every cell starts with, x W_ihᵀ + b_ih and h W_hhᵀ + b_hh, given the
    gradients of their results: (dL/dx, dL/dh, dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh)."""
    grad_input, grad_weight_ih, grad_bias_ih = linear_backward(grad_ih, input, weight_ih, has_bias)
    grad_hx, grad_weight_hh, grad_bias_hh = linear_backward(grad_hh, hx, weight_hh, has_bias)
    return grad_input, grad_hx, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh


def rnn_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity: str = "tanh"):
    """h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) for x (N, I), h (N, H)."""
    return NONLINEARITIES[nonlinearity](linear(hx, weight_hh, bias_hh) + linear(input, weight_ih, bias_ih))


def rnn_cell_backward(grad_output, input, hx, output, weight_ih, weight_hh, has_bias: bool = True,
                      nonlinearity: str = "tanh"):
    """(dL/dx, dL/dh, dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh) from G = dL/dh' and the forward's output h'."""
    grad_z = NONLINEARITY_BACKWARDS[nonlinearity](grad_output, output)
    return affine_pair_backward(grad_z, grad_z, input, hx, weight_ih, weight_hh, has_bias)


def rnn_layer(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity: str = "tanh",
              reverse: bool = False):
    """Every state h_t (T, N, H) of one layer over x (T, N, I) from h0 (N, H); `reverse` runs t = T..1."""
    act = NONLINEARITIES[nonlinearity]
    projected = linear(input, weight_ih, bias_ih)  # x_t W_ihᵀ + b_ih for every step at once
    states = np.empty(projected.shape, dtype=projected.dtype)
    h = h0
    for t in (reversed(range(len(input))) if reverse else range(len(input))):
        h = act(linear(h, weight_hh, bias_hh) + projected[t])
        states[t] = h
    return states


def rnn_layer_backward(grad_states, grad_h_n, input, h0, states, weight_ih, weight_hh, has_bias: bool = True,
                       nonlinearity: str = "tanh", reverse: bool = False):
    """BPTT for `rnn_layer` (module docstring): grad_states = G_t (T, N, H), grad_h_n = dL/dh_n or None.

    Returns (dL/dx (T, N, I), dL/dh0, dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh).
    """
    act_backward = NONLINEARITY_BACKWARDS[nonlinearity]
    grad_z = np.empty_like(states)
    carried = np.zeros_like(h0) if grad_h_n is None else grad_h_n  # δ from the steps after t
    for t in (range(len(states)) if reverse else reversed(range(len(states)))):
        grad_z[t] = act_backward(grad_states[t] + carried, states[t])
        carried = grad_z[t] @ weight_hh
    previous = np.concatenate([states[1:], h0[None]] if reverse else [h0[None], states[:-1]])  # h_{t∓1}
    grad_input, _, *param_grads = affine_pair_backward(grad_z, grad_z, input, previous, weight_ih, weight_hh,
                                                       has_bias)
    return grad_input, carried, *param_grads


def lstm_cell(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """LSTM cell, torch's gate order i, f, g, o (weights (4H, ·) stacked in that order):

        [a_i, a_f, a_g, a_o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
        c' = f ⊙ c + i ⊙ g,        h' = o ⊙ tanh(c')

    Returns (h', c', (i, f, g, o)); the gates are what `lstm_cell_backward` needs besides the inputs and c'.
    """
    return lstm_gates(linear(hx, weight_hh, bias_hh) + linear(input, weight_ih, bias_ih), cx)


def lstm_gates(pre_activations, cx):
    """The LSTM step after its two affine maps: (h', c', (i, f, g, o)) from [a_i, a_f, a_g, a_o] (N, 4H) and c."""
    hidden = pre_activations.shape[-1] // 4
    sigmoids = sigmoid(pre_activations)  # one call for the three σ gates (g's block is not read)
    i, f, o = sigmoids[..., :hidden], sigmoids[..., hidden:2 * hidden], sigmoids[..., 3 * hidden:]
    g = _tanh(pre_activations[..., 2 * hidden:3 * hidden])
    c = f * cx + i * g
    return o * _tanh(c), c, (i, f, g, o)


def lstm_cell_backward(grad_h, grad_c, input, hx, cx, c, gates, weight_ih, weight_hh, has_bias: bool = True):
    """Backward of `lstm_cell` from G_h = dL/dh' and G_c = dL/dc' (the cell state's own gradient, e.g. from
    the next step). c' reaches the loss directly and through h' = o ⊙ tanh(c'), so its total gradient is

        δc = G_c + G_h ⊙ o ⊙ (1 - tanh²(c'))
        dL/do = G_h ⊙ tanh(c'),  dL/di = δc ⊙ g,  dL/dg = δc ⊙ i,  dL/df = δc ⊙ c,  dL/dc = δc ⊙ f
        dA = [dL/di ⊙ i(1-i), dL/df ⊙ f(1-f), dL/dg ⊙ (1-g²), dL/do ⊙ o(1-o)]   (gate pre-activations, (N, 4H))

    and dA feeds both affine maps (as in the Elman cell). Returns (dL/dx, dL/dh, dL/dc, dL/dW_ih, dL/dW_hh,
    dL/db_ih, dL/db_hh).
    """
    grad_gates, grad_cx = lstm_gates_backward(grad_h, grad_c, cx, c, gates)
    grad_input, grad_hx, *param_grads = affine_pair_backward(grad_gates, grad_gates, input, hx, weight_ih,
                                                             weight_hh, has_bias)
    return grad_input, grad_hx, grad_cx, *param_grads


def lstm_gates_backward(grad_h, grad_c, cx, c, gates):
    """(dA (N, 4H), dL/dc) of `lstm_gates` from G_h and G_c (derivation: `lstm_cell_backward`)."""
    i, f, g, o = gates
    tanh_c = _tanh(c)
    grad_cell = grad_c + tanh_backward(grad_h * o, tanh_c)
    grad_gates = np.concatenate([sigmoid_backward(grad_cell * g, i), sigmoid_backward(grad_cell * cx, f),
                                 tanh_backward(grad_cell * i, g), sigmoid_backward(grad_h * tanh_c, o)], axis=-1)
    return grad_gates, grad_cell * f


def gru_cell(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """GRU cell, torch's gate order r, z, n (weights (3H, ·) stacked in that order):

        [i_r, i_z, i_n] = x W_ihᵀ + b_ih,      [h_r, h_z, h_n] = h W_hhᵀ + b_hh
        r = σ(i_r + h_r),   z = σ(i_z + h_z),   n = tanh(i_n + r ⊙ h_n),   h' = (1 - z) ⊙ n + z ⊙ h

    (the reset gate scales the hidden map after its bias, so b_hn sits inside r ⊙ (·)). h' is computed as
    torch does, n + z ⊙ (h - n). Returns (h', (r, z, n, h_n)) for `gru_cell_backward`.
    """
    return gru_gates(linear(input, weight_ih, bias_ih), linear(hx, weight_hh, bias_hh), hx)


def gru_gates(from_input, from_hidden, hx):
    """The GRU step after its two affine maps: (h', (r, z, n, h_n)) from x W_ihᵀ + b_ih and h W_hhᵀ + b_hh."""
    hidden = from_input.shape[-1] // 3
    gates = sigmoid(from_hidden[..., :2 * hidden] + from_input[..., :2 * hidden])  # r and z in one call
    r, z, hidden_n = gates[..., :hidden], gates[..., hidden:], from_hidden[..., 2 * hidden:]
    n = _tanh(from_input[..., 2 * hidden:] + hidden_n * r)
    return n + z * (hx - n), (r, z, n, hidden_n)


def gru_cell_backward(grad_output, input, hx, gates, weight_ih, weight_hh, has_bias: bool = True):
    """Backward of `gru_cell` from G = dL/dh'. h' = (1 - z) ⊙ n + z ⊙ h gives

        dL/dn = G ⊙ (1 - z),   dL/dz = G ⊙ (h - n),   dL/dh (direct) = G ⊙ z
        dA_n = dL/dn ⊙ (1 - n²)                        (n's pre-activation i_n + r ⊙ h_n)
        dL/dr = dA_n ⊙ h_n,   dA_r = dL/dr ⊙ r(1-r),   dA_z = dL/dz ⊙ z(1-z)

    The input map's gradient is [dA_r, dA_z, dA_n]; the hidden map's is [dA_r, dA_z, dA_n ⊙ r] (r scales h_n).
    Returns (dL/dx, dL/dh, dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh).
    """
    grad_ih, grad_hh, grad_direct = gru_gates_backward(grad_output, hx, gates)
    grad_input, grad_hx, *param_grads = affine_pair_backward(grad_ih, grad_hh, input, hx, weight_ih, weight_hh,
                                                             has_bias)
    return grad_input, grad_hx + grad_direct, *param_grads


def gru_gates_backward(grad_output, hx, gates):
    """(gradient of x W_ihᵀ + b_ih, of h W_hhᵀ + b_hh, dL/dh through z ⊙ h alone) of `gru_gates` from G = dL/dh'
    (derivation: `gru_cell_backward`)."""
    r, z, n, hidden_n = gates
    grad_n = tanh_backward(grad_output * (1 - z), n)
    grad_r = sigmoid_backward(grad_n * hidden_n, r)
    grad_z = sigmoid_backward(grad_output * (hx - n), z)
    return (np.concatenate([grad_r, grad_z, grad_n], axis=-1), np.concatenate([grad_r, grad_z, grad_n * r], axis=-1),
            grad_output * z)
