"""PReLU written by hand as a user would, with two hand-derivation bugs to switch on (for the checker's tests).

    y = x            where x > 0
    y = a_c · x      elsewhere            a: (num_parameters,), one slope per channel (dim 1), or one for all

Backward, with g = dL/dy:
    dL/dx   = g            where x > 0,  a_c · g elsewhere
    dL/da_c = Σ over every dim but the channel of g ⊙ x ⊙ [x <= 0]

The layer is not differentiable at x = 0: it declares that input value as its kink (`kinks = (0.0,)`), so the
float64 finite-difference check (manual.gradcheck) never steps across it. Its twin is `torch.nn.PReLU`.
`bug`: None, "weight-sum-axis" (dL/da summed as if the channel were the last dim) or "negative-slope" (the
negative side's slope forgotten in dL/dx, as ReLU's backward).
"""
import numpy as np

import manual.nn as mnn


class PReLU(mnn.Module):
    kinks = (0.0,)

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None, bug: str | None = None):
        super().__init__()
        self.weight = mnn.Parameter(np.full(num_parameters, init, dtype=dtype or np.float32))
        self.bug = bug

    def _slopes(self, x):
        """a broadcast against x: along dim 1 (the channel) for several slopes."""
        a = self.weight.data
        return a.reshape((1, -1) + (1,) * (x.ndim - 2)) if a.size > 1 else a

    def forward(self, input):
        self.save_for_backward(input)
        return np.where(input > 0, input, self._slopes(input) * input)

    def backward(self, grad_output):
        (x,) = self.saved_for_backward()
        negative = x <= 0
        channels = self.weight.data.size
        if self.bug == "weight-sum-axis":
            grad_weight = (grad_output * x * negative).reshape(-1, channels).sum(axis=0)
        elif channels > 1:
            grad_weight = (grad_output * x * negative).sum(axis=tuple(i for i in range(x.ndim) if i != 1))
        else:
            grad_weight = np.atleast_1d((grad_output * x * negative).sum())
        self.accumulate_parameter_grads(weight=grad_weight.astype(self.weight.dtype))
        slope = 0.0 if self.bug == "negative-slope" else self._slopes(x)
        return np.where(negative, slope * grad_output, grad_output)

    def extra_repr(self):
        return f"num_parameters={self.weight.shape[0]}"
