"""Dropout: the mask source; the math is in `functional.dropout`."""
from collections.abc import Callable

import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, kept_on_refusal
from manual.nn.module import Module


class Dropout(Module):
    """Training: y = x ⊙ m/(1-p), m ~ Bernoulli(1-p) per element; eval (or p = 0): y = x. dL/dx = g ⊙ m/(1-p).

    Where the mask comes from: `mask_provider`, a callable (shape) -> boolean keep-mask, when set; otherwise a
    fresh draw from manual.random's generator (`manual.manual_seed`). NumPy cannot reproduce torch's random
    stream, so the compare harness sets `mask_provider` to hand over the mask the torch twin drew for the same
    forward (compare/masks.py); tests fix it to make the layer deterministic for finite differences.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.mask_provider: Callable[[tuple[int, ...]], np.ndarray] | None = None

    def draw_mask(self, shape) -> np.ndarray:
        if self.mask_provider is None:
            return random.generator().random(shape) >= self.p
        mask = np.asarray(self.mask_provider(shape))
        if mask.shape != tuple(shape) or mask.dtype != np.bool_:
            raise ValueError(f"{self.label()}: mask_provider returned {mask.dtype} {mask.shape}, "
                             f"expected a bool mask of shape {tuple(shape)}")
        return mask

    def forward(self, input):
        x = check_float_input(self, input)
        if not self.training or self.p == 0:
            scale = np.ones((), dtype=x.dtype)
        elif self.p == 1:  # everything dropped: no mask drawn (torch draws none either)
            scale = np.zeros(x.shape, dtype=x.dtype)
        else:
            scale = F.dropout_scale(self.draw_mask(x.shape), self.p, x.dtype)
        self.save_for_backward(scale, x.shape, x.dtype)
        return F.dropout(x, scale)

    def backward(self, grad_output):
        scale, shape, dtype = saved = self.saved_for_backward()
        with kept_on_refusal(self, saved):
            grad_output = check_grad_output(self, grad_output, shape, dtype)
        return F.dropout_backward(grad_output, scale)

    def extra_repr(self):
        return f"p={self.p}, inplace=False"
