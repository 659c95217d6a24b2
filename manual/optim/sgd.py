"""Stochastic gradient descent with momentum, dampening, L2 weight decay and Nesterov, as torch.optim.SGD."""
import numpy as np

from manual.optim import _blas
from manual.optim._ops import add, add_
from manual.optim.optimizer import Optimizer, l2_gradient, non_negative

BLOCK = 1 << 14  # elements per block in `add_scaled_`: its float64 temporary stays at 128 KiB
SAXPY_FROM = 4096  # elements from which `add_scaled_` takes BLAS's saxpy (see its docstring)


def add_scaled_(target: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """target += alpha·x in place, rounded as torch's `target.add_(x, alpha=alpha)` (see `_ops.add_`).

    torch's float32 kernel fuses alpha·x + target (one rounding); `_ops.add_` emulates that exactly through a
    float64 temporary (the model's arrays stay float32). That rounding matters when the update nearly cancels
    the parameter (huge gradients: tests/checks/test_extremes.py). A temporary for a whole parameter would raise the
    step's peak memory by twice its size (torch's add_ needs none), so large arrays go a block of rows at a time.
    Where BLAS's saxpy is present and rounds the same way (`_blas.fused_saxpy`), it does the same update in
    place with no temporary, several times faster, for arrays of `SAXPY_FROM` elements or more: deciding whether
    it is there (SciPy's import and a probe, ~0.2 s, once per process) pays only over large arrays, as below 4096
    elements saxpy saves under 4 µs a call (1.4 vs 2.1 µs at 16 elements, 1.8 vs 5.4 µs at 4096), and only in
    float32 (saxpy is single precision: a float64 update never asks, so never imports SciPy).
    """
    if (target.size >= SAXPY_FROM and target.dtype is _blas.FLOAT32 and _blas.fused_saxpy is not None
            and _blas.fused_saxpy(target, alpha, x)):
        return
    if target.ndim == 0 or target.size <= BLOCK:
        add_(target, x, alpha)
        return
    rows = max(1, BLOCK * len(target) // target.size)
    for start in range(0, len(target), rows):
        block = slice(start, start + rows)
        add_(target[block], x[block], alpha)


def sgd_update(param: np.ndarray, grad: np.ndarray, momentum_buffer, *, lr, momentum, dampening, weight_decay,
               nesterov, maximize):
    """One SGD step on `param` (in place); returns the momentum buffer (new on the first step, None without momentum).

        g  = (-g if maximize else g) + weight_decay·p
        b  = g                                  on the first step (no (1 - dampening) factor)
        b  = momentum·b + (1 - dampening)·g     afterwards
        g  = g + momentum·b  if nesterov  else  b
        p  = p - lr·g
    """
    grad = l2_gradient(param, grad, weight_decay, maximize)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = np.array(grad, copy=True)
        else:
            momentum_buffer *= momentum
            add_scaled_(momentum_buffer, 1 - dampening, grad)
        grad = add(grad, momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    add_scaled_(param, -lr, grad)
    return momentum_buffer


class SGD(Optimizer):
    """torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
    foreach=None, differentiable=False, fused=None); the flags as `Optimizer`'s docstring says.

    torch's rule (μ = momentum, τ = dampening, λ = weight_decay, η = lr):

        g_t = ∇f(p_{t-1}) + λ·p_{t-1}
        b_1 = g_1 ;  b_t = μ·b_{t-1} + (1 - τ)·g_t
        d_t = g_t + μ·b_t  (nesterov)   or   b_t
        p_t = p_{t-1} - η·d_t

    Other common conventions and what differs from torch:

    | convention                          | update                       | differs from torch                    |
    |-------------------------------------|------------------------------|---------------------------------------|
    | torch (and this class)              | b = μb + (1-τ)g ;  p -= η·b  | -                                     |
    | "lr inside momentum" (course notes, | v = μv - η·g ;  p += v       | v = -η·b while η is constant (τ = 0); |
    | Keras, Sutskever et al. 2013)       |                              | after an lr change v still carries    |
    |                                     |                              | the old η, torch's b carries none     |
    | scikit-learn MLP `solver="sgd"`     | v = μv - η·g ; p += μv - η·g | Nesterov on by default; its L2 adds   |
    |                                     | (Nesterov, its default)      | α·p/n_samples to the gradient         |
    | dampening also on the first step    | b_1 = (1-τ)·g_1              | the first buffer is scaled by (1-τ)   |
    | L2 penalty in the loss              | loss + (λ/2)·‖p‖²            | nothing: the same as λ·p in g         |

    State per parameter: `momentum_buffer`, only when momentum != 0 (no `step` entry).
    """

    RULES = (non_negative("lr"), non_negative("momentum"), non_negative("weight_decay"),
             (("nesterov", "momentum", "dampening"),
              lambda g: not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
              "momentum > 0 and dampening == 0 when nesterov=True"))

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def update(self, param, state, group):
        if group["momentum"] == 0 and group["weight_decay"] == 0 and not group["maximize"]:
            add_scaled_(param.data, -float(group["lr"]), param.grad)  # sgd_update's rule for this group, less its calls
            return
        buffer = sgd_update(param.data, param.grad, state.get("momentum_buffer"), lr=float(group["lr"]),
                            momentum=float(group["momentum"]), dampening=float(group["dampening"]),
                            weight_decay=float(group["weight_decay"]), nesterov=group["nesterov"],
                            maximize=group["maximize"])
        if buffer is not None:
            state["momentum_buffer"] = buffer
