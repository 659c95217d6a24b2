"""2-D pooling: max, average and adaptive average, with their backward; inputs (N, C, H, W).

Window geometry (torch's `pooling_output_shape`), per spatial dim with kernel k, stride s, padding p, dilation d:
    Ho = ⌊(H + 2p - d·(k-1) - 1 + (s-1 if ceil_mode)) / s⌋ + 1,  and with ceil_mode one less when the last window
    would start at or beyond H + p (it must start inside the input or the left padding);  p ≤ k/2 is required.
Output (i, j) reads the window starting at (s·i - p, s·j - p); kernel position (p, q) of every window is one
strided view (a tap, `functional.conv.taps`) of the input padded on the right far enough for ceil_mode's last window.

max_pool2d: padding counts as -inf. Over the window's positions in row-major order the running maximum (from
-inf, at the window's first position inside the input) is replaced when a value is greater (or NaN), exactly
torch's CPU kernel, so of several equal maxima the FIRST one wins. Backward: dL/dx[argmax of window (i, j)] += G[i, j]; everything else 0 (summed over overlapping windows).

avg_pool2d: y = Σ_window x̃ / D with x̃ zero-padded and, as torch, per dim: start = s·i - p,
end = min(start + k, H + p) (the window clipped to the padded input), D = divisor_override if given, else
(end - start)_h·(end - start)_w with count_include_pad, else the sizes of the window clipped to the input itself.
Backward: every position of window (i, j) gets G[i, j] / D[i, j].

adaptive_avg_pool2d: window i spans rows ⌊i·H/Ho⌋ ... ⌈(i+1)·H/Ho⌉ - 1 (torch's start/end index). With A_h (Ho, H),
A_h[i, r] = 1/|window i| on its rows (A_w alike), y = A_h x A_wᵀ per (n, c), a product of linear maps, so
dL/dx = A_hᵀ G A_w.
"""
import numpy as np

from manual.nn.functional.conv import pad2d, pair, taps

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
           "adaptive_avg_pool2d_backward", "pool_geometry"]


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def pool_geometry(in_size, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, dilation, output size, pads) for an (H, W) input; `pads` = ((p, bottom),
    (p, right)): the padding plus what ceil_mode's last window reaches beyond it."""
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == () else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    out = tuple(pool_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(in_size, kernel, stride, padding, dilation, strict=True))
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(in_size, kernel, stride, padding, dilation, out, strict=True))
    return kernel, stride, padding, dilation, out, pads


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
    """Returns (y, argmax): argmax[n, c, i, j] = kh·p + q of window (i, j)'s first maximal position (p, q)."""
    kernel, stride, padding, dilation, out, pads = pool_geometry(input.shape[-2:], kernel_size, stride, padding,
                                                                 dilation, ceil_mode)
    # torch starts every window at -inf with the index of its first position inside the input (padding is
    # skipped, so an all -inf window still sends its gradient to a real element): per dim ⌈(p - s·i)/d⌉ ∨ 0
    first = [np.maximum(0, -((s * np.arange(o) - p) // d))
             for s, o, p, d in zip(stride, out, padding, dilation, strict=True)]
    best = np.full(input.shape[:-2] + out, -np.inf, dtype=input.dtype)
    argmax = np.empty(best.shape, dtype=np.uint8 if np.prod(kernel) < 256 else np.int64)
    argmax[...] = first[0][:, None] * kernel[1] + first[1]
    for p, q, tap in taps(pad2d(input, pads, -np.inf), kernel, stride, dilation, out):
        better = tap > best
        better |= np.isnan(tap)
        np.maximum(best, tap, out=best)  # NaN wins, as the update above
        np.copyto(argmax, p * kernel[1] + q, where=better)
    return best, argmax


def max_pool2d_backward(grad_output, argmax, input_shape, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode: bool = False):
    kernel, stride, _, dilation, out, pads = pool_geometry(input_shape[-2:], kernel_size, stride, padding, dilation,
                                                           ceil_mode)
    padded_shape = tuple(n + a + b for n, (a, b) in zip(input_shape[-2:], pads, strict=True))
    grad_padded = np.zeros(input_shape[:-2] + padded_shape, dtype=grad_output.dtype)
    for p, q, grad_tap in taps(grad_padded, kernel, stride, dilation, out):
        grad_tap += np.where(argmax == p * kernel[1] + q, grad_output, 0)  # (G·mask would turn an inf G into NaN)
    return _crop(grad_padded, pads, input_shape)


def _crop(padded, pads, input_shape):
    (top, _), (left, _) = pads
    h, w = input_shape[-2:]
    return np.ascontiguousarray(padded[..., top: top + h, left: left + w])


def avg_pool_divisor(in_size, kernel, stride, padding, out, count_include_pad, divisor_override):
    """D (Ho, Wo): what each window's sum is divided by (module docstring)."""
    if divisor_override is not None:
        return np.full(out, float(divisor_override))
    counts = []
    for n, k, s, p, o in zip(in_size, kernel, stride, padding, out, strict=True):
        start = s * np.arange(o) - p
        end = np.minimum(start + k, n + p)
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(*counts).astype(np.float64)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None):
    kernel, stride, padding, dilation, out, pads = pool_geometry(input.shape[-2:], kernel_size, stride, padding, 1,
                                                                 ceil_mode)
    total = np.zeros(input.shape[:-2] + out, dtype=input.dtype)
    for _, _, tap in taps(pad2d(input, pads), kernel, stride, dilation, out):
        total += tap
    divisor = avg_pool_divisor(input.shape[-2:], kernel, stride, padding, out, count_include_pad, divisor_override)
    return total / divisor.astype(input.dtype)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                        count_include_pad: bool = True, divisor_override=None):
    kernel, stride, padding, dilation, out, pads = pool_geometry(input_shape[-2:], kernel_size, stride, padding, 1,
                                                                 ceil_mode)
    divisor = avg_pool_divisor(input_shape[-2:], kernel, stride, padding, out, count_include_pad, divisor_override)
    share = grad_output / divisor.astype(grad_output.dtype)
    padded_shape = tuple(n + a + b for n, (a, b) in zip(input_shape[-2:], pads, strict=True))
    grad_padded = np.zeros(input_shape[:-2] + padded_shape, dtype=grad_output.dtype)
    for _, _, grad_tap in taps(grad_padded, kernel, stride, dilation, out):
        grad_tap += share
    return _crop(grad_padded, pads, input_shape)


def adaptive_pool_matrix(in_size: int, out_size: int, dtype) -> np.ndarray:
    """A (out, in): row i averages input positions ⌊i·in/out⌋ ... ⌈(i+1)·in/out⌉ - 1."""
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_output_size(in_size, output_size) -> tuple[int, int]:
    """torch's output_size: an int, or a pair whose None entries keep the input's size."""
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    height, width = (int(n if o is None else o) for n, o in zip(in_size, sizes, strict=True))
    return height, width


def adaptive_avg_pool2d(input, output_size):
    rows, cols = (adaptive_pool_matrix(n, o, input.dtype)
                  for n, o in zip(input.shape[-2:], adaptive_output_size(input.shape[-2:], output_size), strict=True))
    return rows @ input @ cols.T


def adaptive_avg_pool2d_backward(grad_output, input_shape, output_size):
    rows, cols = (adaptive_pool_matrix(n, o, grad_output.dtype)
                  for n, o in zip(input_shape[-2:], adaptive_output_size(input_shape[-2:], output_size), strict=True))
    return rows.T @ grad_output @ cols
