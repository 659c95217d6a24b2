"""Convolution (torch's cross-correlation) in 1-D and 2-D, and its hand-derived backward.

Shapes (torch's): x (N, C, H, W), weight (O, C/g, kh, kw), bias (O,), y (N, O, Ho, Wo); g = groups, and
output channel o of group k = o // (O/g) sees only input channels k·C/g ... (k+1)·C/g - 1. With x̃ = x padded
with zeros (pt, pb rows, pl, pr columns), stride (sh, sw) and dilation (dh, dw):

    y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x̃[n, c_o + c, sh·i + dh·p, sw·j + dw·q]
    Ho = ⌊(H + pt + pb - dh·(kh-1) - 1) / sh⌋ + 1      (likewise Wo)

Kernel position (p, q) reads the strided view x̃[:, :, dh·p :: sh, dw·q :: sw] cut to (Ho, Wo): a "tap"
(`taps`). Forward: the kh·kw taps are copied into an im2col array (samples, g, C/g·kh·kw, Ho·Wo), and every
sample and group is one matrix product with weight viewed as (g, O/g, C/g·kh·kw). The batch goes through in
chunks of samples whose im2col array is no larger than their output (at least one sample per chunk), so the
forward holds about twice the output, not C·kh·kw/O times it; nothing of it is kept for the backward.

Backward, with G = dL/dy. y is linear in w, b and x̃, and each product w·x̃ appears once per (n, o, i, j):
    dL/db[o]          = Σ_{n,i,j} G[n, o, i, j]
    dL/dw[o, c, p, q] = Σ_{n,i,j} G[n, o, i, j] · x̃[n, c_o + c, sh·i + dh·p, sw·j + dw·q]
                      = Σ_n (G[n] as (O/g, Ho·Wo)) @ (tap (p, q) of x̃[n] as (C/g, Ho·Wo))ᵀ, per group
    dL/dx̃[n, c, sh·i + dh·p, sw·j + dw·q] += Σ_o w[o, c, p, q] · G[n, o, i, j]      for every (p, q)
                      = tap (p, q) of dL/dx̃[n] += (w[:, :, p, q] as (C/g, O/g)) @ (G[n] as (O/g, Ho·Wo)), per group
and dL/dx is dL/dx̃ without its padding (positions never read, e.g. rows skipped by a stride, get 0).
The backward loops over the kh·kw kernel positions and never builds the im2col array: besides dL/dx̃ it holds
one tap and one product (N·C·Ho·Wo values each) at a time.

padding: an int, a pair, "valid" (0) or "same" (stride 1 only; total d·(k-1) per dim, the odd unit on the
bottom/right, as torch). Conv1d is Conv2d on (N, C, 1, L) with a (1, k) kernel.
"""
import numpy as np

__all__ = ["conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv_padding"]


def pair(value, what: str = "value") -> tuple[int, int]:
    """An int or a 2-sequence as (int, int), as torch's `_pair`."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    values = tuple(int(v) for v in value)
    if len(values) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return values


def conv_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) zero padding for torch's `padding` argument of Conv2d."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if pair(stride, "stride") != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        (dh, dw), (kh, kw) = pair(dilation, "dilation"), pair(kernel_size, "kernel_size")
        total_h, total_w = dh * (kh - 1), dw * (kw - 1)
        return (total_h // 2, total_h - total_h // 2), (total_w // 2, total_w - total_w // 2)
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"negative padding is not supported, got {padding!r}")
    return (ph, ph), (pw, pw)


def pad2d(x: np.ndarray, pads, value=0.0) -> np.ndarray:
    """x (..., H, W) with `pads` = ((top, bottom), (left, right)) rows/columns of `value` (x itself if none)."""
    if not any(any(p) for p in pads):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [tuple(p) for p in pads], constant_values=value)


def taps(array: np.ndarray, kernel_size, stride, dilation, out_size):
    """Yield (p, q, view) per kernel position, row-major: view[..., i, j] = array[..., sh·i + dh·p, sw·j + dw·q]
    for i < Ho, j < Wo. Views, not copies: writing into one (`+=`) writes into `array`."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_size
    for p in range(kh):
        for q in range(kw):
            yield p, q, array[..., dh * p: dh * p + sh * (ho - 1) + 1: sh, dw * q: dw * q + sw * (wo - 1) + 1: sw]


def conv_output_size(in_size, pads, kernel_size, stride, dilation) -> tuple[int, ...]:
    return tuple((n + a + b - d * (k - 1) - 1) // s + 1
                 for n, (a, b), k, s, d in zip(in_size, pads, kernel_size, stride, dilation, strict=True))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """y = weight ⋆ input + bias for a batched input (N, C, H, W); see the module docstring."""
    n, _, h, w = input.shape
    out_channels, group_channels, kh, kw = weight.shape
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    pads = conv_padding(padding, (kh, kw), stride, dilation)
    ho, wo = conv_output_size((h, w), pads, (kh, kw), stride, dilation)
    k, padded = group_channels * kh * kw, pad2d(input, pads)
    chunk = min(n, max(1, n * out_channels // (groups * k)))  # samples per im2col array (module docstring)
    weight_rows = weight.reshape(groups, out_channels // groups, k)
    y = np.empty((n, groups, out_channels // groups, ho * wo), dtype=input.dtype)
    cols = np.empty((chunk, groups, group_channels, kh, kw, ho, wo), dtype=input.dtype)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        for p, q, tap in taps(padded[start:stop], (kh, kw), stride, dilation, (ho, wo)):
            cols[:stop - start, :, :, p, q] = tap.reshape(stop - start, groups, group_channels, ho, wo)
        np.matmul(weight_rows, cols[:stop - start].reshape(stop - start, groups, k, ho * wo), out=y[start:stop])
    y = y.reshape(n, out_channels, ho, wo)
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups: int = 1,
                    has_bias: bool = True, needs_input_grad: bool = True):
    """Returns (dL/dx or None, dL/dw, dL/db or None); derivation in the module docstring."""
    n, channels, h, w = input.shape
    out_channels, group_channels, kh, kw = weight.shape
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    pads = conv_padding(padding, (kh, kw), stride, dilation)
    ho, wo = grad_output.shape[2:]
    group_out = out_channels // groups
    grad_rows = grad_output.reshape(n, groups, group_out, ho * wo)  # G[n] per group: (O/g, Ho·Wo)
    padded = pad2d(input, pads)
    weight_groups = weight.reshape(groups, group_out, group_channels, kh, kw)
    grad_weight = np.empty_like(weight_groups)
    geometry = ((kh, kw), stride, dilation, (ho, wo))
    for p, q, tap in taps(padded, *geometry):
        tap_rows = tap.reshape(n, groups, group_channels, ho * wo)
        grad_weight[..., p, q] = (grad_rows @ tap_rows.transpose(0, 1, 3, 2)).sum(axis=0)
    grad_input = None
    if needs_input_grad:
        grad_padded = np.zeros(padded.shape, dtype=input.dtype)
        for p, q, grad_tap in taps(grad_padded, *geometry):
            contribution = weight_groups[..., p, q].transpose(0, 2, 1) @ grad_rows  # (N, g, C/g, Ho·Wo)
            grad_tap += contribution.reshape(n, channels, ho, wo)
        (top, _), (left, _) = pads
        grad_input = grad_padded if padded is input else np.ascontiguousarray(
            grad_padded[:, :, top: top + h, left: left + w])
    grad_bias = grad_output.sum(axis=(0, 2, 3)) if has_bias else None
    return grad_input, grad_weight.reshape(weight.shape), grad_bias


def _as_2d(stride, padding, dilation):
    """Conv1d's arguments for the (1, L) image Conv2d sees."""
    as_int = (lambda v: int(v[0]) if isinstance(v, (tuple, list)) else int(v))
    padding = padding if isinstance(padding, str) else (0, as_int(padding))
    return (1, as_int(stride)), padding, (1, as_int(dilation))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """Conv1d for a batched input (N, C, L) and weight (O, C/g, k): Conv2d on (N, C, 1, L) with a (1, k) kernel."""
    stride, padding, dilation = _as_2d(stride, padding, dilation)
    return conv2d(input[:, :, None, :], weight[:, :, None, :], bias, stride, padding, dilation, groups)[:, :, 0, :]


def conv1d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups: int = 1,
                    has_bias: bool = True, needs_input_grad: bool = True):
    stride, padding, dilation = _as_2d(stride, padding, dilation)
    grad_input, grad_weight, grad_bias = conv2d_backward(grad_output[:, :, None, :], input[:, :, None, :],
                                                         weight[:, :, None, :], stride, padding, dilation, groups,
                                                         has_bias, needs_input_grad)
    return None if grad_input is None else grad_input[:, :, 0, :], grad_weight[:, :, 0, :], grad_bias
