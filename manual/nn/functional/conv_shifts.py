"""Stride-1 convolution on the flattened padded image, where every kernel position is one contiguous shift.

With x̃ = x zero-padded to (C, Hp, Wp) and flattened row-major to x̃f (C, Hp·Wp), output (i, j) at kernel position
(p, q) reads x̃[c, i + dh·p, j + dw·q] = x̃f[c, m + s_pq], with m = i·Wp + j and the shift s_pq = dh·p·Wp + dw·q.
Over the extended grid m = 0 ... Ho·Wp - 1 (all i < Ho and all j < Wp: the columns j >= Wo are no outputs; they
wrap into the next row and are dropped), tap (p, q) is the contiguous run x̃f[c, s_pq : s_pq + Ho·Wp]. The last run
reaches dw·(kw - 1) past Hp·Wp, so the buffer holding x̃f has that many more zeros. With y_e on the extended grid:

    y_e[n, o, m] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x̃f[n, c_o + c, m + s_pq],      y[n, o, i, j] = y_e[n, o, i·Wp + j]

Forward, per chunk of samples: cols[n, (c, p, q), m] = x̃f[n, c, m + s_pq] is one copy of C/g·kh·kw runs per
sample and group (from a strided view of x̃f: no index arithmetic), with a row of ones for the bias, and
Y_e[n] (O/g, Ho·Wp) = (W | b) @ cols[n] is one matrix product per sample and group; y is Y_e's first Wo columns
of every row. (One product per sample: with all the chunk's samples side by side the products were no faster, and
OpenBLAS ran dL/dw's, whose inner dimension then grows with the chunk, up to 8x slower per sample.)

Backward, with G_e = G placed on the extended grid, zero in the dropped columns (so they add nothing), per sample,
group and kernel position (p, q), each a product reading x̃f's run s_pq in place (a strided view, no im2col copy):
    dL/dw[o, c, p, q] = Σ_{n, m} G_e[n, o, m] · x̃f[n, c, m + s_pq]      i.e. dL/dw[:, :, p, q] = Σ_n G_e[n] @ run_pqᵀ
    dL/dx̃f[n, c, m + s_pq] += Σ_o w[o, c, p, q] · G_e[n, o, m]           i.e. P_pq[n] = w[:, :, p, q]ᵀ @ G_e[n], added
                                                                          to dL/dx̃f[n] shifted by s_pq
and dL/dx is dL/dx̃ inside the padding. P_pq is written with rows one padded image (`length`) apart, zero past the
grid, so that P_pq of the whole chunk lines up with dL/dx̃f of the chunk flattened: each (p, q) is one contiguous
addition, shifted by s_pq (col2im), the zeros landing on the next row's start. (NumPy runs an addition on rows
with gaps between them through its 8192-element buffers, 3-5x slower than on a contiguous run.)
A dropped column multiplies G_e's zero by the x̃ or w it wraps onto: 0 where those are finite, NaN where one is
not, so the backward takes this way only for a finite input and weight (`functional.conv` checks; its strided
im2col reads the windows alone). The forward never mixes a dropped column into an output.
"""
import numpy as np

__all__: list[str] = []  # the conv functions of `functional.conv` call these

CHUNK_BYTES = 1 << 20  # a chunk's im2col array, either way: it stays in cache, and the memory it takes stays bounded


class ShiftGeometry:
    """Sizes of the extended grid for an input (H, W), `pads` ((top, bottom), (left, right)), a (kh, kw) kernel and
    dilation, stride 1."""

    def __init__(self, in_size, pads, kernel_size, dilation):
        (h, w), ((top, bottom), (left, right)) = in_size, pads
        (kh, kw), (dh, dw) = kernel_size, dilation
        self.in_size, self.top, self.left, self.kernel_size = (h, w), top, left, (kh, kw)
        self.padded = (h + top + bottom, w + left + right)  # (Hp, Wp)
        self.out_size = (self.padded[0] - dh * (kh - 1), self.padded[1] - dw * (kw - 1))  # (Ho, Wo)
        self.grid = self.out_size[0] * self.padded[1]  # Ho·Wp positions of the extended grid
        self.length = self.padded[0] * self.padded[1] + dw * (kw - 1)  # x̃f and the zeros the last run reads
        self.steps = (dh * self.padded[1], dw)  # s_pq = p·(dh·Wp) + q·dw
        self.shifts = [p * self.steps[0] + q * self.steps[1] for p in range(kh) for q in range(kw)]  # row-major

    def interior(self, flat: np.ndarray) -> np.ndarray:
        """The (H, W) inside the padding of a (..., length) buffer, as a view."""
        (hp, wp), (h, w) = self.padded, self.in_size
        image = view(flat[..., :hp * wp], flat.shape[:-1] + (hp, wp))
        return image[..., self.top: self.top + h, self.left: self.left + w]

    def runs(self, flat: np.ndarray, groups: int) -> np.ndarray:
        """(samples, g, C/g, kh, kw, Ho·Wp) view of a (samples, C, length) buffer: [n, k, c, p, q] = run s_pq of
        x̃f[n, k·C/g + c]."""
        samples, channels, _ = flat.shape
        step_n, step_c, item = flat.strides
        (kh, kw), (row, col) = self.kernel_size, self.steps
        return np.lib.stride_tricks.as_strided(
            flat, (samples, groups, channels // groups, kh, kw, self.grid),
            (step_n, channels // groups * step_c, step_c, row * item, col * item, item), writeable=False)

    def outputs(self, extended: np.ndarray) -> np.ndarray:
        """(..., Ho, Wo) view of (..., Ho·Wp) values on the extended grid."""
        (ho, wo), wp = self.out_size, self.padded[1]
        return view(extended, extended.shape[:-1] + (ho, wp))[..., :wo]


def view(array: np.ndarray, shape) -> np.ndarray:
    """array.reshape(shape), which must be a view: writes through a copy would be lost."""
    reshaped = array.reshape(shape)
    if not np.may_share_memory(reshaped, array):
        raise AssertionError(f"reshape of {array.shape} to {shape} copied")
    return reshaped


def samples_per_chunk(n, bytes_per_sample) -> int:
    """How many of n samples go through an im2col array of `bytes_per_sample` each at once: at least one."""
    return max(1, min(n, CHUNK_BYTES // max(1, bytes_per_sample)))


def _chunks(n, bytes_per_sample):
    step = samples_per_chunk(n, bytes_per_sample)
    return step, [(start, min(n, start + step)) for start in range(0, n, step)]


def weight_rows(weight, bias, groups: int) -> np.ndarray:
    """(W | b) per group, (g, O/g, C/g·kh·kw [+ 1]): each output channel's weights as one row, the bias (when
    given) as the last column, to multiply the im2col rows whose last row is ones."""
    out_channels, group_channels, kh, kw = weight.shape
    rows = weight.reshape(groups, out_channels // groups, group_channels * kh * kw)
    if bias is None:
        return rows
    return np.concatenate([rows, bias.reshape(groups, out_channels // groups, 1)], axis=2)


def conv2d_shifts(input, weight, bias, pads, dilation, groups: int):
    """Stride-1 conv2d of a batched input (N, C, H, W); see the module docstring."""
    (n, channels), (out_channels, group_channels, kh, kw) = input.shape[:2], weight.shape
    geometry = ShiftGeometry(input.shape[2:], pads, (kh, kw), dilation)
    rows = group_channels * kh * kw
    matrix = weight_rows(weight, bias, groups)
    step, chunks = _chunks(n, (channels * kh * kw + groups) * geometry.grid * input.itemsize)
    padded = np.zeros((step, channels, geometry.length), dtype=input.dtype)
    cols = np.empty((step, groups, matrix.shape[2], geometry.grid), dtype=input.dtype)
    if bias is not None:
        cols[:, :, rows] = 1
    extended = np.empty((step, groups, out_channels // groups, geometry.grid), dtype=input.dtype)
    y = np.empty((n, out_channels) + geometry.out_size, dtype=input.dtype)
    # the buffers' views, made once and cut to each chunk's m samples
    image, runs = geometry.interior(padded), geometry.runs(padded, groups)
    cols_runs = view(cols[:, :, :rows], (step, groups, group_channels, kh, kw, geometry.grid))
    outputs = geometry.outputs(view(extended, (step, out_channels, geometry.grid)))
    for start, stop in chunks:
        m = stop - start
        image[:m] = input[start:stop]
        cols_runs[:m] = runs[:m]
        np.matmul(matrix, cols[:m], out=extended[:m])  # one product per sample and group
        y[start:stop] = outputs[:m]
    return y


def conv2d_shifts_backward(grad_output, input, weight, pads, dilation, groups: int, needs_input_grad: bool):
    """(dL/dx or None, dL/dw) of `conv2d_shifts` for a finite input and weight; see the module docstring."""
    (n, channels), (out_channels, group_channels, kh, kw) = input.shape[:2], weight.shape
    geometry = ShiftGeometry(input.shape[2:], pads, (kh, kw), dilation)
    group_out, grid, length, taps = out_channels // groups, geometry.grid, geometry.length, kh * kw
    step, chunks = _chunks(n, channels * taps * length * input.itemsize)
    padded = np.zeros((step, channels, length), dtype=input.dtype)
    grad_extended = np.zeros((step, groups, group_out, grid), dtype=input.dtype)  # the dropped columns stay 0
    grad_weight_taps = np.zeros((groups, kh, kw, group_out, group_channels), dtype=input.dtype)
    grad_input = np.empty(input.shape, dtype=input.dtype) if needs_input_grad else None
    # the buffers' views, made once and cut to each chunk's m samples; runs: (step, g, kh, kw, Ho·Wp, C/g)
    image, runs = geometry.interior(padded), geometry.runs(padded, groups).transpose(0, 1, 3, 4, 5, 2)
    grad_outputs = geometry.outputs(view(grad_extended, (step, out_channels, grid)))
    if grad_input is not None:  # w[:, :, p, q]ᵀ per tap and group, (kh·kw, g, C/g, O/g); P_pq with zeros past the grid
        weight_taps = np.ascontiguousarray(weight.reshape(groups, group_out, group_channels, taps).transpose(3, 0, 2, 1))
        product = np.zeros((taps, step, channels, length), dtype=input.dtype)
        product_rows = view(product, (taps, step, groups, group_channels, length))[..., :grid]
        product_flat = view(product, (taps, step * channels * length))
        grad_padded = np.empty((step, channels, length), dtype=input.dtype)
        grad_flat, grad_image = view(grad_padded, (-1,)), geometry.interior(grad_padded)
    for start, stop in chunks:
        m = stop - start
        image[:m] = input[start:stop]
        grad_outputs[:m] = grad_output[start:stop]
        grad_weight_taps += np.matmul(grad_extended[:m, :, None, None], runs[:m]).sum(axis=0)
        if grad_input is not None:
            np.matmul(weight_taps[:, None], grad_extended[None, :m], out=product_rows[:, :m])  # P_pq per sample, group
            size = m * channels * length
            target = grad_flat[:size]
            target[...] = 0
            for tap, shift in zip(product_flat, geometry.shifts, strict=True):  # col2im: one addition per (p, q)
                target[shift:] += tap[:size - shift]
            grad_input[start:stop] = grad_image[:m]
    grad_weight = grad_weight_taps.transpose(0, 3, 4, 1, 2).reshape(weight.shape)
    return grad_input, grad_weight
