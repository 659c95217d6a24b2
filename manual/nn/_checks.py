"""Boundary checks shared by layers and losses: every message names the layer, the expectation and the input.

`owner` is the module (or a string naming it): its label (class and arguments) is formatted only when a check
fails, so a good call does not pay for the message.
"""
from contextlib import contextmanager

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_TORCH_DTYPE_NAMES = {"torch.float32": "float32", "torch.float": "float32", "torch.float64": "float64",
                      "torch.double": "float64"}


def resolve_dtype(dtype, owner=None) -> np.dtype:
    """float32 by default, as torch; only float32 and float64 are supported: a NumPy dtype or its name ("float64",
    np.float32, "double"), or torch's (torch.float64, shown as "torch.float64"). `owner` (a module or a label)
    prefixes the refusal."""
    try:
        resolved = np.dtype(np.float32 if dtype is None else _TORCH_DTYPE_NAMES.get(str(dtype), dtype))
    except TypeError:
        resolved = None
    if resolved is None or resolved not in FLOAT_DTYPES:  # (None == np.dtype("float64"): NumPy reads None as float64)
        prefix = "" if owner is None else f"{label_of(owner)}: "
        raise TypeError(f"{prefix}dtype must be float32 or float64, got {dtype if resolved is None else resolved}")
    return resolved


def label_of(owner) -> str:
    return owner if isinstance(owner, str) else owner.label()


def refuse_subclass(owner, what: str, value) -> None:
    """ndarray subclasses are refused: np.matrix turns `*` into a matrix product and 1-d rows into 2-d, a
    masked array's mask would be silently ignored. Converting is the caller's explicit choice."""
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        raise TypeError(f"{label_of(owner)}: expected a plain numpy.ndarray {what}, got "
                        f"{type(value).__module__}.{type(value).__name__} (its semantics differ: np.matrix "
                        f"multiplies as matrices, a masked array's mask would be ignored); convert it explicitly, "
                        f"e.g. np.asarray(x) or x.filled()")


def check_float_input(owner, x, dtype: np.dtype | None = None) -> np.ndarray:
    """`x` as a plain ndarray of a float dtype, equal to the parameters' `dtype` when the layer has any."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{label_of(owner)}: expected a numpy.ndarray input, got {type(x).__name__}")
    refuse_subclass(owner, "input", x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{label_of(owner)}: expected a float32 or float64 input, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{label_of(owner)}: input dtype {x.dtype} does not match the parameters' dtype {dtype} "
                        f"(torch raises here too; cast the input or the module)")
    return x


def check_last_dim(owner, x: np.ndarray, size: int, min_ndim: int = 1) -> None:
    if x.ndim < min_ndim or x.shape[-1] != size:
        raise ValueError(f"{label_of(owner)}: expected input of shape (*, {size}), got {x.shape}")


def check_same_shape(owner, what: str, given, expected_shape) -> None:
    if np.shape(given) != tuple(expected_shape):
        raise ValueError(f"{label_of(owner)}: {what} must have shape {tuple(expected_shape)}, got {np.shape(given)}")


def wrap_dim(owner, dim: int, ndim: int) -> int:
    """`dim` in [-ndim, ndim) as a non-negative axis (a 0-d input counts as 1-d, as torch); IndexError otherwise."""
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{label_of(owner)}: Dimension out of range (expected to be in range of [{-size}, {size - 1}], "
                         f"but got {dim}) for an input with {ndim} dimension(s)")
    return dim % size


def check_between(owner, what: str, values: np.ndarray, low: float, high: float, hint: str = "") -> None:
    """Every element in [low, high] (NaN fails, as in torch's `low <= v && v <= high`)."""
    inside = (values >= low) & (values <= high)
    if not inside.all():
        bad = values[~inside].flat[0]
        raise ValueError(f"{label_of(owner)}: all elements of {what} should be between {low} and {high}{hint}, "
                         f"got {bad} (values in [{np.min(values)}, {np.max(values)}])")


def check_grad_output(owner, grad_output, output_shape, dtype: np.dtype | None = None) -> np.ndarray:
    """backward(grad_output) needs dL/d(output) of the output's shape (torch: "Mismatch in shape"); NumPy would
    broadcast a wrong one silently (a (1, out) or (out,) gradient would give wrong parameter gradients).

    With `dtype` (the input's), a grad_output of another real dtype (an integer one, say) is returned cast to it,
    as torch's autograd casts every incoming gradient to its tensor's dtype; without, it is returned as given."""
    refuse_subclass(owner, "grad_output", grad_output)
    if np.shape(grad_output) != tuple(output_shape):
        raise ValueError(f"{label_of(owner)}: backward expected grad_output of the output's shape {tuple(output_shape)}, "
                         f"got {np.shape(grad_output)}")
    if dtype is None:
        return grad_output
    grad_output = np.asarray(grad_output)
    if grad_output.dtype == dtype:
        return grad_output
    if grad_output.dtype.kind not in "biuf":
        raise TypeError(f"{label_of(owner)}: backward expected a real grad_output (cast to the input's {dtype}), "
                        f"got dtype {grad_output.dtype}")
    return grad_output.astype(dtype)


@contextmanager
def kept_on_refusal(module, saved: tuple):
    """Around a backward's checks of its gradient, run after `saved = module.saved_for_backward()`: when a check
    refuses, the forward's saved values are saved again (and locked again), so the refused call changes nothing
    and a corrected retry works, as in torch. The checks must come before anything is accumulated into .grad."""
    try:
        yield
    except Exception:
        module.save_for_backward(*saved)
        raise
