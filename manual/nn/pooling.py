"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d: torch's arguments and checks + a call into `functional.pooling`.

No parameters. Inputs (N, C, H, W) or unbatched (C, H, W); the window rules (ceil_mode, padding ≤ kernel/2,
the first-maximum tie rule, avg_pool's divisor) and the backward derivations are in `functional.pooling`.

Refused, as torch 2.13 refuses them (each message names the layer and the value): a kernel_size, stride, padding
or dilation that is not an int or a tuple of one or two ints (a float, a bool, a 3-tuple), a kernel, stride or
dilation < 1, a padding < 0 or > kernel/2; AvgPool2d's divisor_override 0 or not an int; AdaptiveAvgPool2d's
output_size not an int (or None) or a pair of them, or negative. Max and avg pooling refuse an input with an
empty C, H or W (N may be 0: empty output, zero gradient); adaptive pooling refuses an empty H or W, and, in
backward, an empty output size other than N (torch's adaptive_avg_pool2d_backward check).
A grad_output of another real dtype (an integer one) is cast to the input's, as torch's autograd does.
"""
import numpy as np

from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, kept_on_refusal
from manual.nn.module import Module


def pool_pair(owner: str, what: str, value, minimum: int) -> tuple[int, int]:
    """torch's int-or-tuple argument of the 2-D pools as (int, int): an int, or a tuple/list of one or two ints,
    each at least `minimum` (torch refuses a bare bool but reads one inside a tuple as 0 or 1; so does manual)."""
    values = (value,) if not isinstance(value, (tuple, list)) else tuple(value)
    if isinstance(value, (bool, np.bool_)) or not all(isinstance(v, (int, np.integer)) for v in values):
        raise TypeError(f"{owner}: {what} must be an int or a tuple of two ints, got {value!r}")
    if len(values) not in (1, 2):
        raise ValueError(f"{owner}: {what} must be a single int or a tuple of two ints, got {value!r}")
    if any(v < minimum for v in values):
        bound = "non-negative" if minimum == 0 else "greater than zero"
        raise ValueError(f"{owner}: {what} should be {bound}, got {value!r}")
    return (int(values[0]),) * 2 if len(values) == 1 else (int(values[0]), int(values[1]))


class _Pool2d(Module):
    """Shared argument and input checks; `_geometry` holds (kernel, stride, padding, dilation) as int pairs."""

    def _set_geometry(self, kernel_size, stride, padding, dilation) -> None:
        name = type(self).__name__
        kernel = pool_pair(name, "kernel_size", kernel_size, 1)
        stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not len(stride)) \
            else pool_pair(name, "stride", stride, 1)
        self._geometry = kernel, stride, pool_pair(name, "padding", padding, 0), pool_pair(name, "dilation",
                                                                                            dilation, 1)

    def _check_input(self, input, empty_channels: bool = False):
        """A float (C, H, W) or (N, C, H, W) array with non-empty H and W, and C too unless `empty_channels`."""
        check_float_input(self, input)
        if input.ndim not in (3, 4):
            raise ValueError(f"{self.label()}: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape "
                             f"{input.shape}")
        checked = input.shape[-2:] if empty_channels else input.shape[input.ndim - 3:]
        if 0 in checked:
            dims = "H and W" if empty_channels else "C, H and W"
            raise ValueError(f"{self.label()}: expected an input with non-empty {dims} (only N may be 0), got shape "
                             f"{input.shape}")

    def _check_windows(self, input, ceil_mode: bool):
        kernel, stride, padding, dilation = self._geometry
        if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
            raise ValueError(f"{self.label()}: pad should be at most half of kernel size, got "
                             f"padding={padding} for kernel_size={kernel}")
        out = F.pool_geometry(input.shape[-2:], kernel, stride, padding, dilation, ceil_mode)[4]
        if any(o < 1 for o in out):
            raise ValueError(f"{self.label()}: input of shape {input.shape} gives output size {out}: too small")


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max over window (i, j) of the -inf-padded input, as `torch.nn.MaxPool2d`.

    stride defaults to kernel_size. Backward: the window's gradient goes to its first maximal element
    (row-major order over the window), as torch's CPU kernel. return_indices=True returns (y, indices) as torch:
    indices (int64, y's shape) holds each window's maximal element as a flat index h·W + w into its (H, W)
    input plane; backward takes dL/dy only (the indices carry no gradient) and routes it to those elements.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode
        self._set_geometry(kernel_size, stride, padding, dilation)

    def _arguments(self):
        return (*self._geometry, self.ceil_mode)

    def forward(self, input):
        self._check_input(input)
        self._check_windows(input, self.ceil_mode)
        y, argmax = F.max_pool2d(input, *self._arguments())
        self.save_for_backward(argmax, input.shape, input.dtype)
        if self.return_indices:
            return y, F.max_pool2d_indices(argmax, input.shape, *self._arguments())
        return y

    def backward(self, grad_output):
        saved = argmax, input_shape, dtype = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, argmax.shape, dtype)
        return F.max_pool2d_backward(grad_output, argmax, input_shape, *self._arguments())

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = Σ window (i, j) of the zero-padded input / D[i, j], as `torch.nn.AvgPool2d`.

    D: divisor_override, else the window's size within the padded input (count_include_pad=True) or within
    the input itself (False). Backward: each position of window (i, j) receives G[i, j] / D[i, j].
    divisor_override must be a nonzero int (torch accepts a negative one, and so does manual).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        if divisor_override is not None:
            if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, (bool, np.bool_)):
                raise TypeError(f"AvgPool2d: divisor_override must be an int, got {divisor_override!r}")
            if divisor_override == 0:
                raise ValueError("AvgPool2d: divisor must be not zero, got divisor_override=0")
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        self._set_geometry(kernel_size, stride, padding, 1)

    def _arguments(self):
        kernel, stride, padding, _ = self._geometry
        return kernel, stride, padding, self.ceil_mode, self.count_include_pad, self.divisor_override

    def forward(self, input):
        self._check_input(input)
        self._check_windows(input, self.ceil_mode)
        y = F.avg_pool2d(input, *self._arguments())
        self.save_for_backward(input.shape, y.shape, input.dtype)
        return y

    def backward(self, grad_output):
        saved = input_shape, output_shape, dtype = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, output_shape, dtype)
        return F.avg_pool2d_backward(grad_output, input_shape, *self._arguments())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def adaptive_size(output_size) -> tuple:
    """torch's output_size: an int or None, or a tuple/list of two of them (None keeps that input size)."""
    sizes = (output_size,) * 2 if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if isinstance(output_size, (bool, np.bool_)) or not all(s is None or isinstance(s, (int, np.integer))
                                                            for s in sizes):
        raise TypeError(f"AdaptiveAvgPool2d: output_size must be an int, None or a pair of them, got {output_size!r}")
    if len(sizes) != 2:
        raise ValueError(f"AdaptiveAvgPool2d: output_size must be 2 sizes (an int or a pair), got {output_size!r}")
    if any(s is not None and s < 0 for s in sizes):
        raise ValueError(f"AdaptiveAvgPool2d: elements of output_size must be greater than or equal to 0, got "
                         f"{output_size!r}")
    return sizes


class AdaptiveAvgPool2d(_Pool2d):
    """Average over torch's adaptive windows (rows ⌊i·H/Ho⌋ ... ⌈(i+1)·H/Ho⌉ - 1, columns alike), as
    `torch.nn.AdaptiveAvgPool2d(output_size)`; output_size an int or a pair (None keeps that input size).
    Each window summed on its own, so a NaN or inf affects only the outputs whose window holds it; backward
    spreads G[i, j]/|window| over window (i, j) (functional.pooling)."""

    def __init__(self, output_size):
        super().__init__()
        adaptive_size(output_size)
        self.output_size = output_size

    def forward(self, input):
        self._check_input(input, empty_channels=True)
        y = F.adaptive_avg_pool2d(input, self.output_size)
        self.save_for_backward(input.shape, y.shape, input.dtype)
        return y

    def backward(self, grad_output):
        saved = input_shape, output_shape, dtype = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, output_shape, dtype)
            if 0 in output_shape[1:]:  # torch: "Expected grad_output to have non-zero size for non-batch dimensions"
                raise ValueError(f"{self.label()}: backward expected an output with non-empty sizes after the first "
                                 f"dim, got grad_output of shape {output_shape}")
        return F.adaptive_avg_pool2d_backward(grad_output, input_shape, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
