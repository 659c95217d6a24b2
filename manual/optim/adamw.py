"""AdamW: Adam with decoupled weight decay, as torch.optim.AdamW (= Adam(decoupled_weight_decay=True))."""
from manual.optim.adam import Adam


class AdamW(Adam):
    """torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    *, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None). Note the default
    weight_decay, 1e-2 (Adam's is 0); the flags as `Optimizer`'s docstring says.

    torch's rule (η = lr, λ = weight_decay), `adam_update` with decoupled_weight_decay=True:

        p_{t-1}' = p_{t-1}·(1 - η·λ)                        FIRST, from the current p; the gradient is untouched
        m_t, v_t, m̂_t, v̂_t as in Adam, from g_t = ∇f(p_{t-1}) (no λ·p term)
        p_t = p_{t-1}' - η·m̂_t/(sqrt(v̂_t) + ε)

    The decay factor uses the raw η (no bias correction) and follows the learning rate when a scheduler changes
    it. Other common conventions and what differs from torch:

    | convention                          | update                             | differs from torch                |
    |-------------------------------------|------------------------------------|-----------------------------------|
    | torch (and this class); Keras AdamW | p *= 1 - η·λ (first) ;             | -                                 |
    |                                     | p -= η·m̂/(sqrt(v̂) + ε)             |                                   |
    | Loshchilov & Hutter, Algorithm 2    | p -= s_t·(α·m̂/(sqrt(v̂) + ε) + λ·p) | the decay is not scaled by the    |
    |                                     | (α = step size, s_t = schedule     | step size α: torch's λ equals the |
    |                                     | multiplier; torch's η = α·s_t)     | paper's λ/α                       |
    | decay after the update              | p -= η·m̂/(sqrt(v̂) + ε) ;           | also decays the step: O(η²λ)      |
    |                                     | p *= 1 - η·λ (second)              |                                   |
    | Adam + L2 (Adam with weight_decay)  | g += λ·p, then through m and v     | the decay is divided by sqrt(v̂)   |
    | scikit-learn MLP                    | L2 only: g += α·p/n_samples        | coupled (Adam + L2)               |

    State per parameter: as Adam (`step`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` if amsgrad).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        """As Adam's; every group stays decoupled, as torch's AdamW forces on load."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
