"""Convolution (torch's cross-correlation) in 1-D and 2-D, and its hand-derived backward.

Shapes (torch's): x (N, C, H, W), weight (O, C/g, kh, kw), bias (O,), y (N, O, Ho, Wo); g = groups, and
output channel o of group k = o // (O/g) sees only input channels k·C/g ... (k+1)·C/g - 1. With x̃ = x padded
with zeros (pt, pb rows, pl, pr columns), stride (sh, sw) and dilation (dh, dw):

    y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x̃[n, c_o + c, sh·i + dh·p, sw·j + dw·q]
    Ho = ⌊(H + pt + pb - dh·(kh-1) - 1) / sh⌋ + 1      (likewise Wo)

Kernel position (p, q) reads the strided view x̃[:, :, dh·p :: sh, dw·q :: sw] cut to (Ho, Wo): a "tap"
(`taps`). Forward: the kh·kw taps are copied into an im2col array (samples, g, C/g·kh·kw + 1, Ho·Wo) whose last
row per group is ones, and every sample and group is one matrix product with (weight | bias) viewed as
(g, O/g, C/g·kh·kw + 1), written straight into y. x is never padded: only the part of each tap inside x is copied
(`tap_windows`), the padding's zeros stay in the reused array from its allocation. The batch goes through in
chunks of samples whose im2col array fits conv_shifts.CHUNK_BYTES (at least one sample), so it stays in cache and
the memory stays bounded; nothing of it is kept for the backward.

Backward, with G = dL/dy. y is linear in w, b and x̃, and each product w·x̃ appears once per (n, o, i, j):
    dL/db[o]          = Σ_{n,i,j} G[n, o, i, j]
    dL/dw[o, c, p, q] = Σ_{n,i,j} G[n, o, i, j] · x̃[n, c_o + c, sh·i + dh·p, sw·j + dw·q]
                      = Σ_n (G[n] as (O/g, Ho·Wo)) @ (tap (p, q) of x̃[n] as (C/g, Ho·Wo))ᵀ, per group
    dL/dx̃[n, c, sh·i + dh·p, sw·j + dw·q] += Σ_o w[o, c, p, q] · G[n, o, i, j]      for every (p, q)
                      = tap (p, q) of dL/dx̃[n] += (w[:, :, p, q] as (C/g, O/g)) @ (G[n] as (O/g, Ho·Wo)), per group
and dL/dx is dL/dx̃ without its padding (positions never read, e.g. rows skipped by a stride, get 0).
The backward rebuilds the forward's im2col array chunk by chunk (without the ones row; dL/db is G summed) and,
per kernel position, adds that position's dL/dw product and dL/dx's window += (w[:, :, p, q]ᵀ G) on it: the
products of one chunk stay in cache between their computation and their addition. One product per kernel
position rather than one with all C/g·kh·kw rows: the small products run on one BLAS thread; with 2 threads on
a shared machine the bigger ones, each waking a second thread, made the cnn bench step about 1.5x slower (side
by side, float32; single-threaded they were about 10% faster).

Stride 1, the common case, goes another way (`functional.conv_shifts`): there every kernel position is a contiguous
shift of the flattened padded image, so the forward's im2col array is copied in long runs (one matrix product per
sample), and the backward's products read those runs in place, one per kernel position. Its backward multiplies
zeros by input and weight values outside the windows, so it is taken only when the input and the weight are finite
(`functional.finite`); otherwise the way above, which reads the windows alone, keeps a NaN or inf to the windows
that contain it.

padding: an int, a pair, "valid" (0) or "same" (stride 1 only; total d·(k-1) per dim, the odd unit on the
bottom/right, as torch). Conv1d is Conv2d on (N, C, 1, L) with a (1, k) kernel.
"""

import numpy as np

from manual.nn.functional.conv_shifts import (
    conv2d_shifts,
    conv2d_shifts_backward,
    samples_per_chunk,
    view,
    weight_rows,
)
from manual.nn.functional.finite import all_finite

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


def _span(size, pad_before, offset, stride, out_size):
    """(first output, count, first input index) of the outputs i < out_size whose input index
    stride·i + offset - pad_before lies in [0, size); count 0 where they all read padding."""
    first = max(0, -((offset - pad_before) // stride))  # ⌈(pad_before - offset) / stride⌉, at least 0
    last = min(out_size - 1, (size - 1 + pad_before - offset) // stride)
    return first, max(0, last - first + 1), stride * first + offset - pad_before


def tap_windows(in_size, pads, kernel_size, stride, dilation, out_size) -> list:
    """Per kernel position (p, q) that reads any input: (p, q, output window, input window), slices such that tap
    (p, q) of x̃ on the output window is x[..., input window]; elsewhere the tap reads padding (zeros)."""
    windows = []
    for p in range(kernel_size[0]):
        rows = _span(in_size[0], pads[0][0], dilation[0] * p, stride[0], out_size[0])
        for q in range(kernel_size[1]):
            cols = _span(in_size[1], pads[1][0], dilation[1] * q, stride[1], out_size[1])
            if rows[1] and cols[1]:
                windows.append((p, q, tuple(slice(first, first + count) for first, count, _ in (rows, cols)),
                                tuple(slice(start, start + s * (count - 1) + 1, s)
                                      for (_, count, start), s in zip((rows, cols), stride, strict=True))))
    return windows


def _im2col_buffer(samples, groups, group_channels, kernel_size, out_size, dtype, ones: bool):
    """(buffer (samples, g, C/g·kh·kw [+ 1], Ho·Wo) of zeros, its first C/g·kh·kw rows as (samples, g, C/g, kh, kw,
    Ho, Wo)); with `ones` the last row of each group is ones (the bias becomes a column of the weight matrix)."""
    rows = group_channels * kernel_size[0] * kernel_size[1]
    buffer = np.zeros((samples, groups, rows + ones, out_size[0] * out_size[1]), dtype=dtype)
    if ones:
        buffer[:, :, rows] = 1
    return buffer, view(buffer[:, :, :rows], (samples, groups, group_channels, *kernel_size, *out_size))


def _im2col(buffer, taps_view, x, windows) -> np.ndarray:
    """The buffer's first len(x) samples filled from x (m, C, H, W): row (c, p, q) of sample n is tap (p, q) of
    x̃[n, c], flattened. Only each tap's window inside x is written; the padding's zeros were there from the start
    (the buffer is reused chunk after chunk with the same geometry), so x is never padded."""
    m, (groups, group_channels) = len(x), taps_view.shape[1:3]
    for p, q, (out_rows, out_cols), (in_rows, in_cols) in windows:
        window = x[:, :, in_rows, in_cols]
        taps_view[:m, :, :, p, q, out_rows, out_cols] = window.reshape(m, groups, group_channels, *window.shape[2:])
    return buffer[:m]


def _geometry(input, weight, stride, padding, dilation):
    """(stride, dilation, pads, (Ho, Wo)) of a batched input (N, C, H, W) and weight (O, C/g, kh, kw) as pairs;
    refuses a non-positive kernel size, stride or dilation (a zero would divide by zero, a negative one read the
    wrong elements)."""
    kernel_size = weight.shape[2:]
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    if min(*kernel_size, *stride, *dilation) < 1:
        raise ValueError(f"conv2d: kernel size {tuple(kernel_size)}, stride {stride} and dilation {dilation} must be "
                         f"positive")
    pads = conv_padding(padding, kernel_size, stride, dilation)
    return stride, dilation, pads, conv_output_size(input.shape[2:], pads, kernel_size, stride, dilation)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> np.ndarray:
    """y = weight ⋆ input + bias for a batched input (N, C, H, W); see the module docstring."""
    n = input.shape[0]
    out_channels, group_channels, kh, kw = weight.shape
    stride, dilation, pads, (ho, wo) = _geometry(input, weight, stride, padding, dilation)
    if stride == (1, 1):
        return conv2d_shifts(input, weight, bias, pads, dilation, groups)
    windows = tap_windows(input.shape[2:], pads, (kh, kw), stride, dilation, (ho, wo))
    ones = bias is not None
    matrix = weight_rows(weight, bias, groups)
    chunk = samples_per_chunk(n, matrix.shape[2] * groups * ho * wo * input.itemsize)
    buffer, taps_view = _im2col_buffer(chunk, groups, group_channels, (kh, kw), (ho, wo), input.dtype, ones)
    y = np.empty((n, groups, out_channels // groups, ho * wo), dtype=input.dtype)
    for start in range(0, n, chunk):
        cols = _im2col(buffer, taps_view, input[start: start + chunk], windows)
        np.matmul(matrix, cols, out=y[start: start + chunk])
    return y.reshape(n, out_channels, ho, wo)


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups: int = 1,
                    has_bias: bool = True, needs_input_grad: bool = True):
    """Returns (dL/dx or None, dL/dw, dL/db or None); derivation in the module docstring."""
    n, channels = input.shape[:2]
    out_channels, group_channels, kh, kw = weight.shape
    stride, dilation, pads, (ho, wo) = _geometry(input, weight, stride, padding, dilation)
    grad_bias = grad_output.sum(axis=(0, 2, 3)) if has_bias else None
    if stride == (1, 1) and all_finite(input) and all_finite(weight):
        grad_input, grad_weight = conv2d_shifts_backward(grad_output, input, weight, pads, dilation, groups,
                                                         needs_input_grad)
        return grad_input, grad_weight, grad_bias
    windows = tap_windows(input.shape[2:], pads, (kh, kw), stride, dilation, (ho, wo))
    group_out, rows = out_channels // groups, group_channels * kh * kw
    grad_rows = grad_output.reshape(n, groups, group_out, ho * wo)  # G[n] per group: (O/g, Ho·Wo)
    chunk = samples_per_chunk(n, rows * groups * ho * wo * input.itemsize)
    buffer, taps_view = _im2col_buffer(chunk, groups, group_channels, (kh, kw), (ho, wo), input.dtype, False)
    grad_weight_taps = np.zeros((groups, group_out, group_channels, kh, kw), dtype=input.dtype)
    grad_input = np.zeros(input.shape, dtype=input.dtype) if needs_input_grad else None
    if grad_input is not None:  # per kernel position: w[:, :, p, q] per group as (g, C/g, O/g), and its product
        weight_taps = np.ascontiguousarray(weight.reshape(groups, group_out, group_channels, kh, kw)
                                           .transpose(3, 4, 0, 2, 1))
        product = np.empty((chunk, groups, group_channels, ho * wo), dtype=input.dtype)
        product_image = view(product, (chunk, channels, ho, wo))
    for start in range(0, n, chunk):
        cols = _im2col(buffer, taps_view, input[start: start + chunk], windows)
        grad_chunk = grad_rows[start: start + chunk]
        for p, q, _, _ in windows:  # dL/dw[:, :, p, q] += G · (tap (p, q))ᵀ per group and sample
            tap = view(taps_view[:len(cols), :, :, p, q], (len(cols), groups, group_channels, ho * wo))
            grad_weight_taps[:, :, :, p, q] += np.matmul(grad_chunk, tap.transpose(0, 1, 3, 2)).sum(axis=0)
        if grad_input is not None:  # tap (p, q) of dL/dx̃ += w[:, :, p, q]ᵀ G, within x (the rest is padding)
            m, target = len(grad_chunk), grad_input[start: start + chunk]
            for p, q, (out_rows, out_cols), (in_rows, in_cols) in windows:
                np.matmul(weight_taps[p, q], grad_chunk, out=product[:m])
                target[:, :, in_rows, in_cols] += product_image[:m, :, out_rows, out_cols]
    return grad_input, grad_weight_taps.reshape(weight.shape), grad_bias


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
