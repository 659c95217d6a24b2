"""Stochastic gradient descent with momentum, dampening, L2 weight decay and Nesterov, as torch.optim.SGD."""
import numpy as np

from manual.optim.optimizer import Optimizer

BLOCK = 1 << 14  # elements of the temporary alpha·x in `add_scaled_` (64 KiB in float32: stays in cache)


def add_scaled_(target: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """target += alpha·x in place, as torch's `target.add_(x, alpha=alpha)`.

    NumPy has no fused a·x + y, so alpha·x needs a temporary: a copy of the whole parameter would raise the
    step's peak memory by the largest parameter's size (torch's add_ needs none), so large arrays are taken
    a block of rows at a time. Each element gets the same two roundings either way.
    """
    if target.ndim == 0 or target.size <= BLOCK:
        target += alpha * x
        return
    rows = max(1, BLOCK * len(target) // target.size)
    for start in range(0, len(target), rows):
        target[start:start + rows] += alpha * x[start:start + rows]


def sgd_update(param: np.ndarray, grad: np.ndarray, momentum_buffer, *, lr, momentum, dampening, weight_decay,
               nesterov, maximize):
    """One SGD step on `param` (in place); returns the new momentum buffer (None without momentum).

        g  = (-g if maximize else g) + weight_decay·p
        b  = g                                  on the first step (no (1 - dampening) factor)
        b  = momentum·b + (1 - dampening)·g     afterwards
        g  = g + momentum·b  if nesterov  else  b
        p  = p - lr·g
    """
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = np.array(grad, copy=True)
        else:
            momentum_buffer *= momentum
            add_scaled_(momentum_buffer, 1 - dampening, grad)
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    add_scaled_(param, -lr, grad)
    return momentum_buffer


class SGD(Optimizer):
    """torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False).

    torch's rule (see `sgd_update`) and other common conventions:

    | convention                     | velocity / update                          | differs from torch by          |
    |--------------------------------|--------------------------------------------|--------------------------------|
    | torch (and this class)         | b = μb + (1-τ)g ; p -= lr·b                | -                              |
    | course / "lr inside momentum"  | v = μv - lr·g ; p += v                     | equal for constant lr; differs |
    |                                |                                            | once lr changes (schedulers)   |
    | scikit-learn SGD               | v = μv - lr·g ; Nesterov on by default     | default nesterov, lr placement |
    | dampening on the first step    | b_1 = (1-τ)g                               | first velocity scaled by 1-τ   |

    State per parameter: `momentum_buffer`, only when momentum != 0.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False):
        if lr < 0:
            raise ValueError(f"SGD: invalid learning rate lr={lr}, expected lr >= 0")
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum={momentum}, expected momentum >= 0")
        if weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay={weight_decay}, expected weight_decay >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def update(self, param, state, group):
        buffer = sgd_update(param.data, param.grad, state.get("momentum_buffer"), lr=group["lr"],
                            momentum=group["momentum"], dampening=group["dampening"],
                            weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
        if buffer is not None:
            state["momentum_buffer"] = buffer
