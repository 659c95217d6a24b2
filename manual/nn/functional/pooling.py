"""2-D pooling: max, average and adaptive average, with their backward; inputs (N, C, H, W).

Window geometry (torch's `pooling_output_shape`), per spatial dim with kernel k, stride s, padding p, dilation d:
    Ho = ⌊(H + 2p - d·(k-1) - 1 + (s-1 if ceil_mode)) / s⌋ + 1,  and with ceil_mode one less when the last window
    would start at or beyond H + p (it must start inside the input or the left padding);  p ≤ k/2 is required.
Output (i, j) reads the window starting at (s·i - p, s·j - p); kernel position (p, q) of every window is one
strided view (a tap, `functional.conv.taps`) of the input padded on the right far enough for ceil_mode's last window.

max_pool2d: padding counts as -inf. Over the window's positions in row-major order the running maximum (from
-inf, at the window's first position inside the input) is replaced when a value is greater (or NaN), exactly
torch's CPU kernel, so of several equal maxima the FIRST one wins (`max_in_order`). Where every maximum is
finite the same argmax comes in two cheaper passes (`max_by_rows`): per input row, the running maximum over the
kw columns of each window (strictly greater replaces, so the first equal one stays); then over the kh rows of each
window the same on those row maxima, keeping the winning row's column. The first row holding the maximum, and in
it the first column, is the first maximal position in row-major order. A NaN or ±inf maximum (a NaN, an inf, or a
window all -inf, whose argmax is then its first position inside the input) is redone in order.
Backward: dL/dx[argmax of window (i, j)] += G[i, j]; everything else 0 (summed over overlapping windows). Per kernel
position (p, q), the tap of dL/dx gets G·[argmax = (p, q)]; where G is not all finite (0·inf = NaN, where torch
gives 0) it gets the selection where(argmax = (p, q), G, 0) instead.

avg_pool2d: y = Σ_window x̃ / D with x̃ zero-padded and, as torch, per dim: start = s·i - p,
end = min(start + k, H + p) (the window clipped to the padded input), D = divisor_override if given, else
(end - start)_h·(end - start)_w with count_include_pad, else the sizes of the window clipped to the input itself.
Backward: every position of window (i, j) gets G[i, j] / D[i, j].

adaptive_avg_pool2d: window i spans rows ⌊i·H/Ho⌋ ... ⌈(i+1)·H/Ho⌉ - 1 (torch's start/end index; windows may
overlap). With A_h (Ho, H), A_h[i, r] = 1/|window i| on its rows (A_w alike), y = A_h x A_wᵀ per (n, c), a product
of linear maps, so dL/dx = A_hᵀ G A_w: two BLAS products each way. But a NaN or inf in x (or G) would then spread
over the whole (n, c) plane through 0·NaN = NaN, where torch affects only the windows holding it; so when x (or G)
is not all finite, the same map is taken window by window instead: y[i, j] = (Σ over rows of window i and columns
of window j of x) / (|window i|·|window j|) (`np.add.reduceat`), and its adjoint adds G[i, j]/(|window i|·|window j|)
to each element of window (i, j). (Window by window is 5-30x slower, hence the finite fast path.)
"""
import numpy as np

from manual.nn.functional.conv import pad2d, pair, taps
from manual.nn.functional.finite import all_finite

__all__ = ["max_pool2d", "max_pool2d_indices", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "pool_geometry"]


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
    padded = pad2d(input, pads, -np.inf)
    best, argmax = max_by_rows(padded, kernel, stride, dilation, out)
    if all_finite(best):
        return best, argmax
    return max_in_order(padded, kernel, stride, padding, dilation, out)


def _argmax_dtype(kernel):
    return np.uint8 if np.prod(kernel) < 256 else np.int64


def _shifted_maxima(array, count: int, step: int, dtype):
    """(best, index) of `array`'s shape: at each position u of the flattened array, the maximum over the `count` runs
    flat[u + step·k], k < count, and the first k holding it, comparing strictly greater (NaN-blind). The index only
    grows, so taking run k where it is greater is max(index, k·[greater]): integer arithmetic, where a masked copy
    (np.copyto's where=) runs ten times slower. The runs are contiguous, so every operation goes through NumPy's SIMD
    loops, where the strided windows themselves ran at a third of the speed: twice the elements for a stride of 2
    and still faster (the column pass at 32×8×64×64 float32: 0.49 against 0.70 ms). The last step·(count - 1)
    positions, whose runs would leave the array, are left undefined; the caller takes positions whose runs stay
    in their row (or plane)."""
    flat = array.reshape(-1)
    defined = max(0, flat.size - step * (count - 1))
    best, index = np.empty(flat.size, dtype=array.dtype), np.zeros(flat.size, dtype=dtype)
    if count == 1:
        best[:] = flat
    else:  # run 0 against run 1 straight from the input: the comparison is the index
        first, second = flat[:defined], flat[step: step + defined]
        np.greater(second, first, out=index[:defined])
        np.maximum(first, second, out=best[:defined])
    for k in range(2, count):
        run = flat[step * k: step * k + defined]
        np.maximum(index[:defined], np.multiply(run > best[:defined], dtype(k)), out=index[:defined])
        np.maximum(best[:defined], run, out=best[:defined])
    return best.reshape(array.shape), index.reshape(array.shape)


def max_by_rows(padded, kernel, stride, dilation, out):
    """Each window's maximum and first maximal position, row maxima first (module docstring); exact where the
    maximum is finite. Both passes run over contiguous shifted runs (`_shifted_maxima`) and take the windows' first
    columns, then their first rows: a window's columns lie in its row, its rows in its plane."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out
    dtype = _argmax_dtype(kernel)
    row_best, row_column = (a[..., 0: sw * (wo - 1) + 1: sw].copy() for a in _shifted_maxima(padded, kw, dw, dtype))
    best, row = (a[..., 0: sh * (ho - 1) + 1: sh, :].copy() for a in _shifted_maxima(row_best, kh, dh * wo, dtype))
    argmax = np.multiply(row, dtype(kw))
    for p in range(kh):  # + the column of the winning row: exactly one p matches
        argmax += np.multiply(row == p, row_column[..., dh * p: dh * p + sh * (ho - 1) + 1: sh, :], dtype=dtype)
    return best, argmax


def max_in_order(padded, kernel, stride, padding, dilation, out):
    """torch's CPU kernel, position by position in row-major order (module docstring): exact for NaN and ±inf."""
    # torch starts every window at -inf with the index of its first position inside the input (padding is
    # skipped, so an all -inf window still sends its gradient to a real element): per dim ⌈(p - s·i)/d⌉ ∨ 0.
    # Positions before it are padding (-inf, never greater), so a position taken is never below the index held,
    # and taking it is max(argmax, k·[taken]), as in _shifted_maxima.
    first = [np.maximum(0, -((s * np.arange(o) - p) // d))
             for s, o, p, d in zip(stride, out, padding, dilation, strict=True)]
    best = np.full(padded.shape[:-2] + out, -np.inf, dtype=padded.dtype)
    argmax = np.empty(best.shape, dtype=_argmax_dtype(kernel))
    argmax[...] = first[0][:, None] * kernel[1] + first[1]
    for p, q, tap in taps(padded, kernel, stride, dilation, out):
        better = tap > best
        better |= np.isnan(tap)
        np.maximum(best, tap, out=best)  # NaN wins, as the update above
        np.maximum(argmax, np.multiply(better, argmax.dtype.type(p * kernel[1] + q)), out=argmax)
    return best, argmax


def max_pool2d_indices(argmax, input_shape, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode: bool = False):
    """torch's return_indices: window (i, j)'s maximal kernel position (p, q) = divmod(argmax, kw) as the flat index
    h·W + w of the input element it reads, h = s_h·i - p_h + d_h·p (w alike); int64, of y's shape."""
    kernel, stride, padding, dilation, out, _ = pool_geometry(input_shape[-2:], kernel_size, stride, padding,
                                                              dilation, ceil_mode)
    p, q = np.divmod(argmax.astype(np.int64), kernel[1])
    rows = stride[0] * np.arange(out[0])[:, None] - padding[0] + dilation[0] * p
    cols = stride[1] * np.arange(out[1]) - padding[1] + dilation[1] * q
    return rows * input_shape[-1] + cols


def max_pool2d_backward(grad_output, argmax, input_shape, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode: bool = False):
    kernel, stride, _, dilation, out, pads = pool_geometry(input_shape[-2:], kernel_size, stride, padding, dilation,
                                                           ceil_mode)
    padded_shape = tuple(n + a + b for n, (a, b) in zip(input_shape[-2:], pads, strict=True))
    grad_padded = np.zeros(input_shape[:-2] + padded_shape, dtype=grad_output.dtype)
    finite = all_finite(grad_output)
    disjoint = all(d * (k - 1) < s for k, s, d in zip(kernel, stride, dilation, strict=True))  # no shared element
    for p, q, grad_tap in taps(grad_padded, kernel, stride, dilation, out):
        chosen = argmax == p * kernel[1] + q
        if not finite:  # the selection: G·[chosen] would turn an inf G into NaN
            with np.errstate(invalid="ignore"):  # inf + -inf from overlapping windows is NaN, as in torch
                grad_tap += np.where(chosen, grad_output, 0)
        elif disjoint:  # every element of the tap is its own: written, not added
            np.multiply(grad_output, chosen, out=grad_tap)
        else:
            grad_tap += grad_output * chosen
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


def adaptive_windows(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the out_size windows over in_size positions: ⌊i·in/out⌋ and ⌈(i+1)·in/out⌉."""
    index = np.arange(out_size)
    return (index * in_size) // out_size, -((-(index + 1) * in_size) // out_size)


def window_sums(x: np.ndarray, axis: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Σ x[..., starts[i]:ends[i], ...] along `axis` for each window i, each sum over its own elements only."""
    if not starts.size:
        return np.zeros(x.shape[:axis] + (0,) + x.shape[axis + 1:], dtype=x.dtype)
    zero_shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    padded = np.concatenate([x, np.zeros(zero_shape, dtype=x.dtype)], axis=axis)  # so that every end is an index
    bounds = np.stack([starts, ends], axis=1).reshape(-1)  # [s0, e0, s1, e1, ...]: even entries sum [s_i, e_i)
    return np.take(np.add.reduceat(padded, bounds, axis=axis), np.arange(0, bounds.size, 2), axis=axis)


def window_spread(g: np.ndarray, axis: int, starts: np.ndarray, ends: np.ndarray, in_size: int) -> np.ndarray:
    """The adjoint of `window_sums`: out[..., r, ...] = Σ of g[..., i, ...] over the windows i that hold r."""
    out = np.zeros(g.shape[:axis] + (in_size,) + g.shape[axis + 1:], dtype=g.dtype)
    moved, gathered = np.moveaxis(out, axis, 0), np.moveaxis(g, axis, 0)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        moved[start:end] += gathered[i]
    return out


def adaptive_output_size(in_size, output_size) -> tuple[int, int]:
    """torch's output_size: an int, or a pair whose None entries keep the input's size."""
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    height, width = (int(n if o is None else o) for n, o in zip(in_size, sizes, strict=True))
    return height, width


def window_sizes(row_windows, col_windows, dtype) -> np.ndarray:
    """(Ho, Wo): |window i|·|window j|, the divisor of output (i, j)."""
    (row_starts, row_ends), (col_starts, col_ends) = row_windows, col_windows
    return np.outer(row_ends - row_starts, col_ends - col_starts).astype(dtype)


def adaptive_pool_matrix(in_size: int, out_size: int, dtype) -> np.ndarray:
    """A (out, in): row i averages input positions ⌊i·in/out⌋ ... ⌈(i+1)·in/out⌉ - 1."""
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    for i, (start, end) in enumerate(zip(*adaptive_windows(in_size, out_size), strict=True)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d(input, output_size, by_windows: bool | None = None):
    """`by_windows`: None takes the products and, only where their result is not all finite (a NaN or inf in the
    input; checked on the output, usually the smaller), sums window by window; True/False force one way."""
    sizes = adaptive_output_size(input.shape[-2:], output_size)
    if not by_windows:
        rows, cols = (adaptive_pool_matrix(n, o, input.dtype) for n, o in zip(input.shape[-2:], sizes, strict=True))
        with np.errstate(invalid="ignore"):  # 0·inf in the products: redone window by window below
            y = rows @ input @ cols.T
        if by_windows is False or np.isfinite(y).all():
            return y
    row_windows, col_windows = (adaptive_windows(n, o) for n, o in zip(input.shape[-2:], sizes, strict=True))
    sums = window_sums(window_sums(input, input.ndim - 2, *row_windows), input.ndim - 1, *col_windows)
    return sums / window_sizes(row_windows, col_windows, input.dtype)


def adaptive_avg_pool2d_backward(grad_output, input_shape, output_size, by_windows: bool | None = None):
    sizes = adaptive_output_size(input_shape[-2:], output_size)
    if by_windows is None:  # checked on G, usually smaller than the result
        by_windows = not np.isfinite(grad_output).all()
    if not by_windows:
        rows, cols = (adaptive_pool_matrix(n, o, grad_output.dtype)
                      for n, o in zip(input_shape[-2:], sizes, strict=True))
        return rows.T @ grad_output @ cols
    row_windows, col_windows = (adaptive_windows(n, o) for n, o in zip(input_shape[-2:], sizes, strict=True))
    share = grad_output / window_sizes(row_windows, col_windows, grad_output.dtype)
    ndim = len(input_shape)
    return window_spread(window_spread(share, ndim - 2, *row_windows, input_shape[-2]), ndim - 1, *col_windows,
                         input_shape[-1])
