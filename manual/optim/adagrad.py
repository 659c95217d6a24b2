"""Adagrad with lr decay, L2 weight decay and an initial accumulator, as torch.optim.Adagrad."""
import numpy as np

from manual.optim._ops import addcdiv, addcmul
from manual.optim.optimizer import Optimizer, l2_gradient, new_step, non_negative


def adagrad_update(param: np.ndarray, grad: np.ndarray, state_sum: np.ndarray, step: float, *, lr, lr_decay,
                   weight_decay, eps, maximize) -> None:
    """One Adagrad step on `param` and `state_sum` (both in place); `step` is t, already incremented.

        g   = (-g if maximize else g) + weight_decay·p
        clr = lr / (1 + (t - 1)·lr_decay)            # t - 1: the first step uses the full lr
        sum = sum + g²
        p   = p - clr·g / (sqrt(sum) + eps)          # eps outside the square root
    """
    grad = l2_gradient(param, grad, weight_decay, maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum[...] = addcmul(state_sum, grad, grad, value=1)
    std = np.sqrt(state_sum) + eps
    param[...] = addcdiv(param, grad, std, value=-clr)


class Adagrad(Optimizer):
    """torch.optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
    foreach=None, *, maximize=False, differentiable=False, fused=None); the flags as `Optimizer`'s docstring says.

    torch's rule (η = lr, d = lr_decay, λ = weight_decay, τ = initial_accumulator_value):

        G_0 = τ
        g_t = ∇f(p_{t-1}) + λ·p_{t-1}
        G_t = G_{t-1} + g_t²
        p_t = p_{t-1} - η/(1 + (t-1)·d) · g_t / (sqrt(G_t) + ε)

    Other common conventions and what differs from torch:

    | convention                 | update                            | differs from torch                 |
    |----------------------------|-----------------------------------|------------------------------------|
    | torch (and this class)     | p -= η·g/(sqrt(G) + ε), ε = 1e-10 | -                                  |
    | textbook / course notes    | p -= η·g/sqrt(G + ε), ε ≈ 1e-6    | ε inside the root: where G ≈ 0 the |
    | (e.g. d2l.ai)              |                                   | step is η·g/sqrt(ε), not η·g/ε     |
    | TensorFlow / Keras Adagrad | G_0 = 0.1 by default              | smaller first steps than G_0 = 0   |
    | lr decay as η/(1 + t·d)    | decay counted from the first step | torch's first step uses the full η |
    | scikit-learn               | (no Adagrad)                      |                                    |

    State per parameter: `step` (0-d float32) and `sum`, created in the constructor (as torch does, so they are
    in `state_dict()` before the first step); `sum` starts at `initial_accumulator_value`. For a group added
    later, the state is created at its first step from the constructor's `initial_accumulator_value` (a
    per-group value is ignored, as in torch).
    """

    RULES = tuple(non_negative(name) for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                                                  "eps"))

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for param in group["params"]:
                self.state[param] = self._initial_state(param)

    def _initial_state(self, param) -> dict:
        return {"step": new_step(),
                "sum": np.full_like(param.data, float(self.defaults["initial_accumulator_value"]))}

    def update(self, param, state, group):
        if not state:
            state.update(self._initial_state(param))
        state["step"] += 1
        adagrad_update(param.data, param.grad, state["sum"], float(state["step"]), lr=float(group["lr"]),
                       lr_decay=float(group["lr_decay"]), weight_decay=float(group["weight_decay"]),
                       eps=float(group["eps"]), maximize=group["maximize"])
