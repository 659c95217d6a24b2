"""Conv1d and Conv2d: parameters + a call into `functional.conv` (math and derivation live there)."""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, kept_on_refusal, resolve_dtype
from manual.nn.functional.conv import conv_output_size
from manual.nn.module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What Conv1d and Conv2d share: torch's arguments, checks, init and the unbatched-input rule.

    weight: (out_channels, in_channels / groups, *kernel_size), bias: (out_channels,); state_dict keys `weight`,
    `bias`. Init (torch's kaiming_uniform_(a=√5) and its bias rule): weight and bias ~ U(-1/√fan_in, 1/√fan_in),
    fan_in = in_channels / groups · Π kernel_size. Only padding_mode="zeros" is implemented.
    `needs_input_grad = False` (the first layer of a network, reading data) skips dL/dx, as Linear's.

    Edges as torch 2.13: kernel_size, stride and dilation must be positive and padding non-negative, each an int or
    a tuple of `dims` ints (refused here, naming the layer, where torch fails later or with its internals); a zero
    batch gives an empty output and zero parameter gradients; zero input channels give an output with zero
    channels (torch's rule, whatever out_channels is); out_channels 0 builds but refuses the forward. backward
    casts a real grad_output of another dtype to the parameters' (autograd casts to the output's dtype), and a
    refused backward leaves the forward's saved state for a corrected retry and every .grad untouched.
    """

    dims = 2
    needs_input_grad = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=None):
        super().__init__()
        name = type(self).__name__
        for what, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < (what == "groups"):
                raise (ValueError if isinstance(value, (int, np.integer)) else TypeError)(
                    f"{name}: {what} must be a {'positive' if what == 'groups' else 'non-negative'} int, "
                    f"got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups}), and groups must be positive")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not implemented in manual "
                                      f"(only 'zeros'); torch has it")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.padding_mode = padding_mode
        self.kernel_size = self._as_tuple("kernel_size", kernel_size, minimum=1)
        self.stride = self._as_tuple("stride", stride, minimum=1)
        self.dilation = self._as_tuple("dilation", dilation, minimum=1)
        self.padding: str | tuple
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (stride "
                                 f"{self.stride}), as in torch")
            self.padding = padding
        else:
            self.padding = self._as_tuple("padding", padding, minimum=0)
        dtype = resolve_dtype(dtype)
        fan_in = in_channels // groups * int(np.prod(self.kernel_size))
        bound = 1 / np.sqrt(fan_in) if fan_in > 0 else 0.0
        rng = random.generator()
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype))
        else:
            self.register_parameter("bias", None)

    def _as_tuple(self, what: str, value, minimum: int) -> tuple:
        """torch's `_single` / `_pair` for one constructor argument: an int, or a tuple/list of `dims` ints, each at
        least `minimum` (torch refuses a non-positive kernel, stride or dilation and a negative padding)."""
        name, dims = type(self).__name__, self.dims
        expected = f"an int or a tuple of {dims} int{'s' if dims > 1 else ''}"
        is_int = (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool))
        if is_int(value):
            values = (int(value),) * dims
        elif isinstance(value, (tuple, list)) and all(is_int(v) for v in value):
            if len(value) != dims:
                raise ValueError(f"{name}: {what} must be {expected}, got {tuple(value)!r} ({len(value)} values)")
            values = tuple(int(v) for v in value)
        else:
            raise TypeError(f"{name}: {what} must be {expected}, got {value!r} of type {type(value).__name__}")
        if any(v < minimum for v in values):
            bound = "positive" if minimum == 1 else "non-negative"
            raise ValueError(f"{name}: {what} must be {bound} (as in torch), got {value!r}")
        return values

    def _arguments(self):
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, input):
        weight = self.weight.data
        check_float_input(self, input, weight.dtype)
        if input.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"{self.label()}: expected {self.dims + 1}D (unbatched) or {self.dims + 2}D (batched) "
                             f"input, got input of shape {input.shape}")
        batched = input if input.ndim == self.dims + 2 else input[None]
        if batched.shape[1] != self.in_channels:
            raise ValueError(f"{self.label()}: expected input with {self.in_channels} channels (dim "
                             f"{input.ndim - self.dims - 1}), got input of shape {input.shape}")
        if self.out_channels == 0:
            raise ValueError(f"{self.label()}: out_channels is 0: torch builds such a layer but refuses its forward "
                             f"(expected weight to be at least 1 at dimension 0)")
        padded = [n + sum(p) for n, p in zip(batched.shape[2:], self._pads(), strict=True)]
        reach = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size, strict=True)]
        if any(n < r for n, r in zip(padded, reach, strict=True)):
            raise ValueError(f"{self.label()}: padded input size per channel {tuple(padded)} is smaller than the "
                             f"(dilated) kernel {tuple(reach)}; input of shape {input.shape}")
        if 0 in batched.shape[2:] and batched.shape[0] and batched.shape[1]:
            raise ValueError(f"{self.label()}: an empty spatial dim is supported only with zero batch or zero "
                             f"channels (as in torch), got input of shape {input.shape}")
        if self.in_channels == 0:  # torch's output for zero input channels has zero channels too, not out_channels
            y = np.zeros(self._output_shape(batched, True), dtype=weight.dtype)
        else:
            y = self._function(batched, weight, None if self.bias is None else self.bias.data, *self._arguments())
        y = y if input.ndim == self.dims + 2 else y[0]
        # the caller's input is locked as well as its batched view, so an edit of either raises
        self.save_for_backward(batched, input.ndim == self.dims + 2, input)
        return y

    def backward(self, grad_output):
        batched, was_batched, _ = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):  # a refused call leaves the forward for a corrected retry
            if type(grad_output) is not np.ndarray:
                raise TypeError(f"{self.label()}: expected grad_output as a numpy.ndarray, got "
                                f"{type(grad_output).__name__}")
            grad_output = check_grad_output(self, grad_output, self._output_shape(batched, was_batched),
                                            self.weight.data.dtype)  # another real dtype cast, as autograd
        grad = grad_output if was_batched else grad_output[None]
        if self.in_channels == 0:
            grad_input = np.zeros(batched.shape, dtype=batched.dtype) if self.needs_input_grad else None
            grad_weight = np.zeros_like(self.weight.data)
            grad_bias = None if self.bias is None else np.zeros_like(self.bias.data)
        else:
            grad_input, grad_weight, grad_bias = self._backward(grad, batched, self.weight.data, *self._arguments(),
                                                                has_bias=self.bias is not None,
                                                                needs_input_grad=self.needs_input_grad)
        self.accumulate_parameter_grads(weight=grad_weight, bias=grad_bias)
        if grad_input is None:
            return None
        return grad_input if was_batched else grad_input[0]

    def _pads(self):
        """(before, after) zero padding per spatial dim (Conv1d's single dim as the width of a 1-row image)."""
        padding = self.padding if isinstance(self.padding, str) or self.dims == 2 else (0, *self.padding)
        as_2d = (lambda v: v if self.dims == 2 else (1, *v))
        return F.conv_padding(padding, as_2d(self.kernel_size), as_2d(self.stride), as_2d(self.dilation))[2 - self.dims:]

    def _output_shape(self, batched, was_batched):
        size = conv_output_size(batched.shape[2:], self._pads(), self.kernel_size, self.stride, self.dilation)
        channels = self.out_channels if self.in_channels else 0  # torch: zero input channels, zero output channels
        return ((batched.shape[0],) if was_batched else ()) + (channels,) + size

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvNd):
    """y[n, o, l] = b[o] + Σ_{c, p} w[o, c, p] · x̃[n, c_o + c, s·l + d·p], as `torch.nn.Conv1d`.

    Input (N, C, L) or unbatched (C, L); weight (out_channels, in_channels/groups, k). Computed as Conv2d on a
    (1, L) image; forward and backward derivation in `functional.conv`.
    """

    dims = 1

    _function, _backward = staticmethod(F.conv1d), staticmethod(F.conv1d_backward)


class Conv2d(_ConvNd):
    """y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x̃[n, c_o + c, sh·i + dh·p, sw·j + dw·q], as
    `torch.nn.Conv2d` (a cross-correlation: the kernel is not flipped).

    Input (N, C, H, W) or unbatched (C, H, W); weight (out_channels, in_channels/groups, kh, kw); x̃ the input
    zero-padded; c_o the first input channel of output o's group. Backward (derived in `functional.conv`):
    dL/db = Σ G, dL/dw per kernel position a product of G with that position's strided view of x̃, dL/dx the
    transposed products scattered back onto those views.
    """

    _function, _backward = staticmethod(F.conv2d), staticmethod(F.conv2d_backward)
