"""Adam with AMSGrad, L2 (or decoupled) weight decay and maximize, as torch.optim.Adam."""
import numpy as np

from manual.optim._ops import addcdiv, addcmul, lerp
from manual.optim.optimizer import Optimizer, l2_gradient, new_step, non_negative


def adam_update(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, max_exp_avg_sq,
                step: float, *, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                decoupled_weight_decay) -> None:
    """One Adam step on `param` and the moment arrays (all in place); `step` is t, already incremented;
    `max_exp_avg_sq` is None unless amsgrad.

        g     = -g if maximize else g
        p     = p·(1 - lr·weight_decay)           if decoupled (AdamW), from the current p, before the update
        g     = g + weight_decay·p                otherwise (L2, coupled)
        m     = β1·m + (1 - β1)·g                 exp_avg (torch: lerp(m, g, 1 - β1))
        v     = β2·v + (1 - β2)·g²                exp_avg_sq
        v_max = max(v_max, v)                     amsgrad only: the max of the raw v; s = v_max, else s = v
        p     = p - lr/(1 - β1^t) · m / (sqrt(s)/sqrt(1 - β2^t) + eps)
    The bias corrections are Python doubles, cast to the parameter dtype where they meet an array.
    """
    if decoupled_weight_decay and weight_decay != 0:
        param *= 1 - lr * weight_decay
    grad = l2_gradient(param, grad, 0 if decoupled_weight_decay else weight_decay, maximize)
    exp_avg[...] = lerp(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq[...] = addcmul(exp_avg_sq, grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = np.sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq) / bias_correction2_sqrt
    denom += eps
    param[...] = addcdiv(param, exp_avg, denom, value=-step_size)


class Adam(Optimizer):
    """torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    *, foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
    decoupled_weight_decay=False); the flags as `Optimizer`'s docstring says.

    torch's rule (η = lr, λ = weight_decay):

        g_t = ∇f(p_{t-1}) + λ·p_{t-1}                      (coupled L2; see AdamW for decoupled)
        m_t = β1·m_{t-1} + (1 - β1)·g_t                     m_0 = 0
        v_t = β2·v_{t-1} + (1 - β2)·g_t²                    v_0 = 0
        m̂_t = m_t/(1 - β1^t) ;  v̂_t = v_t/(1 - β2^t)
        p_t = p_{t-1} - η·m̂_t/(sqrt(v̂_t) + ε)              ε added after the bias-corrected root

    computed as p -= (η/(1 - β1^t))·m/(sqrt(v)/sqrt(1 - β2^t) + ε). AMSGrad replaces v by max(v_1..v_t) (raw,
    then bias-corrected with the current t).

    Other common conventions and what differs from torch:

    | convention                           | update                            | differs from torch                  |
    |--------------------------------------|-----------------------------------|-------------------------------------|
    | torch (and this class); Kingma & Ba  | p -= η·m̂/(sqrt(v̂) + ε)            | -                                   |
    | Algorithm 1; textbook / course notes |                                   |                                     |
    | bias correction folded into lr:      | η_t = η·sqrt(1 - β2^t)/(1 - β1^t) | ε acts as ε/sqrt(1 - β2^t): 32x     |
    | Kingma & Ba §2's "efficient" form,   | p -= η_t·m/(sqrt(v) + ε)          | larger at t = 1 (β2 = 0.999), -> ε  |
    | scikit-learn MLP `solver="adam"`,    |                                   | as t grows; Keras/TF also default   |
    | Keras / TensorFlow                   |                                   | to ε = 1e-7                         |
    | ε inside the root                    | p -= η·m̂/sqrt(v̂ + ε)              | acts as sqrt(ε) outside: 1e-4, not  |
    |                                      |                                   | 1e-8, where v̂ is tiny               |
    | no bias correction                   | p -= η·m/(sqrt(v) + ε)            | first step (1-β1)/sqrt(1-β2) = 3.2x |
    |                                      |                                   | larger at the defaults              |
    | L2 (this class, weight_decay > 0)    | g += λ·p, then through m and v    | L2's decay is divided by sqrt(v̂):   |
    | vs decoupled (AdamW)                 | p -= η·λ·p, outside m and v       | weights with large gradients are    |
    |                                      |                                   | barely decayed                      |

    State per parameter (created at its first step): `step` (0-d float32), `exp_avg`, `exp_avg_sq`, plus
    `max_exp_avg_sq` if amsgrad, all starting at zeros.
    """

    RULES = (non_negative("lr"), non_negative("eps"), non_negative("weight_decay"),
             (("betas",), lambda g: len(g["betas"]) == 2 and all(0.0 <= beta < 1.0 for beta in g["betas"]),
              "two values, each with 0 <= beta < 1"))

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def update(self, param, state, group):
        if not state:
            state["step"] = new_step()
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        adam_update(param.data, param.grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                    float(state["step"]), lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]), amsgrad=group["amsgrad"],
                    maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])
