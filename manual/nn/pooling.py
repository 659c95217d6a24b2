"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d: torch's arguments and checks + a call into `functional.pooling`.

No parameters. Inputs (N, C, H, W) or unbatched (C, H, W); the window rules (ceil_mode, padding ≤ kernel/2,
the first-maximum tie rule, avg_pool's divisor) and the backward derivations are in `functional.pooling`.
"""
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output
from manual.nn.module import Module


class _Pool2d(Module):
    """Shared input checks: a float (C, H, W) or (N, C, H, W) array."""

    def _check_input(self, input):
        check_float_input(self, input)
        if input.ndim not in (3, 4):
            raise ValueError(f"{self.label()}: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape "
                             f"{input.shape}")

    def _check_windows(self, input, kernel, stride, padding, out):
        if any(s <= 0 for s in stride):
            raise ValueError(f"{self.label()}: stride should not be zero or negative, got {stride}")
        if any(p > k // 2 or p < 0 for p, k in zip(padding, kernel, strict=True)):
            raise ValueError(f"{self.label()}: pad should be at most half of kernel size, got padding={padding} "
                             f"for kernel_size={kernel}")
        if any(o < 1 for o in out):
            raise ValueError(f"{self.label()}: input of shape {input.shape} gives output size {out}: too small")


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max over window (i, j) of the -inf-padded input, as `torch.nn.MaxPool2d`.

    stride defaults to kernel_size. Backward: the window's gradient goes to its first maximal element
    (row-major order over the window), as torch's CPU kernel; return_indices is not implemented.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        if return_indices:
            raise NotImplementedError("MaxPool2d: return_indices=True is not implemented in manual")
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def _arguments(self):
        return self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode

    def forward(self, input):
        self._check_input(input)
        kernel, stride, padding, _, out, _ = F.pool_geometry(input.shape[-2:], *self._arguments())
        self._check_windows(input, kernel, stride, padding, out)
        y, argmax = F.max_pool2d(input, *self._arguments())
        self.save_for_backward(argmax, input.shape)
        return y

    def backward(self, grad_output):
        argmax, input_shape = self.saved_for_backward()
        check_grad_output(self, grad_output, argmax.shape)
        return F.max_pool2d_backward(grad_output, argmax, input_shape, *self._arguments())

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = Σ window (i, j) of the zero-padded input / D[i, j], as `torch.nn.AvgPool2d`.

    D: divisor_override, else the window's size within the padded input (count_include_pad=True) or within
    the input itself (False). Backward: each position of window (i, j) receives G[i, j] / D[i, j].
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        if divisor_override is not None and divisor_override == 0:
            raise ValueError("AvgPool2d: divisor must be not zero")
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def _arguments(self):
        return self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, \
            self.divisor_override

    def forward(self, input):
        self._check_input(input)
        kernel, stride, padding, _, out, _ = F.pool_geometry(input.shape[-2:], self.kernel_size, self.stride,
                                                             self.padding, 1, self.ceil_mode)
        self._check_windows(input, kernel, stride, padding, out)
        y = F.avg_pool2d(input, *self._arguments())
        self.save_for_backward(input.shape, y.shape)
        return y

    def backward(self, grad_output):
        input_shape, output_shape = self.saved_for_backward()
        check_grad_output(self, grad_output, output_shape)
        return F.avg_pool2d_backward(grad_output, input_shape, *self._arguments())

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(_Pool2d):
    """Average over torch's adaptive windows (rows ⌊i·H/Ho⌋ ... ⌈(i+1)·H/Ho⌉ - 1, columns alike), as
    `torch.nn.AdaptiveAvgPool2d(output_size)`; output_size an int or a pair (None keeps that input size).
    y = A_h x A_wᵀ, so dL/dx = A_hᵀ G A_w (functional.pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        self._check_input(input)
        if any(n < 1 for n in input.shape[-2:]) or any(o is not None and o < 1 for o in (
                (self.output_size,) * 2 if isinstance(self.output_size, int) else self.output_size)):
            raise ValueError(f"{self.label()}: input of shape {input.shape} and output_size {self.output_size} "
                             f"must be positive")
        y = F.adaptive_avg_pool2d(input, self.output_size)
        self.save_for_backward(input.shape, y.shape)
        return y

    def backward(self, grad_output):
        input_shape, output_shape = self.saved_for_backward()
        check_grad_output(self, grad_output, output_shape)
        return F.adaptive_avg_pool2d_backward(grad_output, input_shape, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
