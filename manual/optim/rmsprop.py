"""RMSprop with momentum, centering and L2 weight decay, as torch.optim.RMSprop."""
import numpy as np

from manual.optim._ops import add, addcdiv, addcmul, lerp
from manual.optim.optimizer import Optimizer, l2_gradient, new_step, non_negative


def rmsprop_update(param: np.ndarray, grad: np.ndarray, square_avg: np.ndarray, grad_avg, momentum_buffer, *, lr,
                   alpha, eps, weight_decay, momentum, centered, maximize) -> None:
    """One RMSprop step on `param` and the state arrays (all in place; `grad_avg` / `momentum_buffer` may be None
    when centered / momentum are off).

        g   = (-g if maximize else g) + weight_decay·p
        v   = alpha·v + (1 - alpha)·g²                      square_avg
        m   = alpha·m + (1 - alpha)·g                       grad_avg, centered only (torch: lerp)
        avg = sqrt(v - m²) + eps   if centered   else   sqrt(v) + eps     (eps outside the root)
        b   = momentum·b + g/avg ;  p = p - lr·b            momentum > 0 (b starts at zeros)
        p   = p - lr·g/avg                                  otherwise
    """
    grad = l2_gradient(param, grad, weight_decay, maximize)
    square_avg *= alpha
    square_avg[...] = addcmul(square_avg, grad, grad, value=1 - alpha)
    if centered:
        grad_avg[...] = lerp(grad_avg, grad, 1 - alpha)
        avg = np.sqrt(addcmul(square_avg, grad_avg, grad_avg, value=-1))
    else:
        avg = np.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer[...] = addcdiv(momentum_buffer, grad, avg)
        param[...] = add(param, momentum_buffer, alpha=-lr)
    else:
        param[...] = addcdiv(param, grad, avg, value=-lr)


class RMSprop(Optimizer):
    """torch.optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    capturable=False, foreach=None, maximize=False, differentiable=False) (all positional, as torch's); the flags
    as `Optimizer`'s docstring says.

    torch's rule (η = lr, α = alpha, μ = momentum, λ = weight_decay):

        g_t = ∇f(p_{t-1}) + λ·p_{t-1}
        v_t = α·v_{t-1} + (1 - α)·g_t²                             v_0 = 0
        m_t = α·m_{t-1} + (1 - α)·g_t                              centered only, m_0 = 0
        a_t = sqrt(v_t - m_t²) + ε  (centered)   or   sqrt(v_t) + ε
        b_t = μ·b_{t-1} + g_t/a_t ;  p_t = p_{t-1} - η·b_t         μ > 0, b_0 = 0
        p_t = p_{t-1} - η·g_t/a_t                                  μ = 0

    No bias correction: v_t is small for the first steps, so the first steps are large (v_1 = (1-α)·g²: the first
    step is 10·η per coordinate at α = 0.99).

    Other common conventions and what differs from torch:

    | convention                         | update                             | differs from torch                    |
    |------------------------------------|------------------------------------|---------------------------------------|
    | torch (and this class)             | p -= η·g/(sqrt(v) + ε), α = 0.99   | -                                     |
    | textbook / course notes (d2l.ai;   | p -= η·g/sqrt(v + ε), γ = 0.9      | ε inside the root; decay 0.9 averages |
    | γ = 0.9 as in Hinton's lecture 6e) |                                    | over ~10 steps, not ~100              |
    | TensorFlow / Keras RMSprop         | b = μ·b + η·g/sqrt(v + ε) ; p -= b | lr inside momentum, ε inside the      |
    |                                    | ρ = 0.9                            | root, another default decay           |
    | bias-corrected (Adam without β1)   | v̂ = v/(1 - α^t)                    | torch has no bias correction          |
    | scikit-learn                       | (no RMSprop)                       |                                       |

    State per parameter (created at its first step): `step` (0-d float32, counted though the rule does not use
    it), `square_avg`, plus `momentum_buffer` if momentum > 0 and `grad_avg` if centered, all starting at zeros.
    """

    RULES = tuple(non_negative(name) for name in ("lr", "eps", "momentum", "weight_decay", "alpha"))

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def update(self, param, state, group):
        if not state:
            state["step"] = new_step()
            state["square_avg"] = np.zeros_like(param.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(param.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param.data)
        state["step"] += 1
        rmsprop_update(param.data, param.grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                       lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                       weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                       centered=group["centered"], maximize=group["maximize"])
