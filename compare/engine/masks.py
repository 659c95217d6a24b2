"""Dropout masks shared between twins: each manual Dropout uses exactly the mask its torch twin drew.

NumPy cannot reproduce torch's random stream, so the mask is read out of torch, without disturbing it:
1. a forward pre-hook on every torch `nn.Dropout` saves the RNG state of the input's device;
2. after the real forward, a forward hook saves the RNG state reached, restores the saved one and recomputes
   `F.dropout(ones_like(input), p, training=True)`: the same kernel, shape and dtype draw the same numbers,
   so its nonzeros are exactly the elements the real forward kept (unlike `output != 0`, which is also
   False where the input was 0);
3. it puts the RNG back to the state the real forward reached, so torch's stream goes on as if nothing
   happened, and queues the mask for the manual Dropout of the same module name;
4. that manual Dropout's `mask_provider` pops the mask on its next forward.
A mask is drawn only in training with 0 < p < 1, on both sides. The torch forward must run before the manual
one (the harness and compare.checks.module_check do so); a manual forward with no queued mask raises.
"""
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

import manual.nn


def _rng_state(device: torch.device):
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng_state(state, device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


def draws_mask(module) -> bool:
    return module.training and 0 < module.p < 1


class MaskRelay:
    """The hooks of one torch Dropout and the provider of its manual twin, joined by a queue of masks."""

    def __init__(self, torch_dropout: torch.nn.Dropout, manual_dropout, name: str):
        self.queue: deque[np.ndarray] = deque()  # boolean masks, oldest first
        self.name, self.saved_state = name, None
        torch_dropout.register_forward_pre_hook(self.before_forward)
        torch_dropout.register_forward_hook(self.after_forward)
        manual_dropout.mask_provider = self.provide

    def before_forward(self, module, args):
        if draws_mask(module):
            self.saved_state = _rng_state(args[0].device)

    def after_forward(self, module, args, output):
        if not draws_mask(module):
            return
        device = args[0].device
        reached = _rng_state(device)
        _set_rng_state(self.saved_state, device)
        with torch.no_grad():
            kept = F.dropout(torch.ones_like(args[0]), module.p, True) != 0
        _set_rng_state(reached, device)
        self.queue.append(kept.cpu().numpy())

    def provide(self, shape):
        if not self.queue:
            raise RuntimeError(f"Dropout '{self.name}': no mask from the torch twin (run the torch forward first)")
        return self.queue.popleft()


def share_dropout_masks(torch_model: torch.nn.Module, manual_model) -> list[MaskRelay]:
    """Join every torch Dropout of `torch_model` to the manual Dropout of the same name in `manual_model`."""
    manual_modules = dict(manual_model.named_modules())
    relays = []
    for name, module in torch_model.named_modules():
        if isinstance(module, torch.nn.Dropout):
            twin = manual_modules.get(name)
            if not isinstance(twin, manual.nn.Dropout):
                raise TypeError(f"torch Dropout '{name}' has no manual Dropout twin (found {type(twin).__name__})")
            relays.append(MaskRelay(module, twin, name))
    return relays
