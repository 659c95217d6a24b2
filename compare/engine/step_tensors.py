"""Which tensors a step compares, by name, on each side: output, loss, dL/dx, every parameter's grad and (after an
optimizer step) the parameter, every buffer, every optimizer-state tensor and each group's lr. (The float64
reference's value of each: `Reference.values` in compare/engine/reference.py.)"""
from __future__ import annotations

import torch

from compare.engine.twins import Twin, optimizer_state


class ModelTensors:
    """(name, manual value, torch value) for every parameter's grad (and, after an optimizer step, the parameter
    itself) and every buffer, by torch's names; the manual value is None where manual lacks the tensor.
    The parameters of both models are matched by torch's names once (they stay the same objects over a run; their
    data and grads change; torch's are updated in place, so on the CPU a NumPy view of each, made here, follows
    them); buffers are looked up at each call (a module may replace a buffer array)."""

    def __init__(self, torch_model, manual_model):
        self.torch_model, self.manual_model = torch_model, manual_model
        m_params = dict(manual_model.named_parameters())
        self.params = [(name, m_params.get(name), t_param) for name, t_param in torch_model.named_parameters()]
        self.views = [t_param.detach().numpy() if t_param.is_cpu else t_param for _, _, t_param in self.params]
        self.grad_names = [f"grad.{name}" for name, _, _ in self.params]
        self.param_names = [f"param.{name}" for name, _, _ in self.params]
        self.has_buffers = next(torch_model.buffers(), None) is not None
        self._state_views: dict[str, tuple] = {}  # name -> (torch's state tensor, a NumPy view of it)

    def state_view(self, name: str, value):
        """A NumPy view of torch's optimizer-state tensor `value` (on the CPU), made once per tensor: torch updates
        its state tensors in place, step after step; anything else is returned as it is."""
        cached = self._state_views.get(name)
        if cached is not None and cached[0] is value:
            return cached[1]
        if not isinstance(value, torch.Tensor) or not value.is_cpu:
            return value
        self._state_views[name] = (value, value.detach().numpy())
        return self._state_views[name][1]

    def pairs(self, after_step: bool) -> list[tuple]:
        pairs = []
        for (_, m_param, t_param), t_view, grad_name, param_name in zip(self.params, self.views, self.grad_names,
                                                                        self.param_names, strict=True):
            pairs.append((grad_name, None if m_param is None else m_param.grad, t_param.grad))
            if after_step:
                pairs.append((param_name, None if m_param is None else m_param.data, t_view))
        if self.has_buffers:
            t_buffers = list(self.torch_model.named_buffers())
            m_buffers = dict(self.manual_model.named_buffers())
            pairs += [(f"buffer.{name}", m_buffers.get(name), t_buffer) for name, t_buffer in t_buffers]
        return pairs


def step_pairs(outputs: tuple, model_tensors: ModelTensors, torch_twin: Twin, manual_twin: Twin, names: list[str],
                after_step: bool) -> list:
    """Every compared (name, manual, torch) of a step: output, loss, dL/dx, the model's tensors and, after an
    optimizer step, the optimizer's."""
    (m_output, m_loss, m_grad_input), (t_output, t_loss, t_grad_input) = outputs
    pairs = [("output", m_output, t_output), ("loss", m_loss, t_loss)]
    if m_grad_input is not None or t_grad_input is not None:  # neither side has one for integer inputs (indices)
        pairs.append(("grad.input", m_grad_input, t_grad_input))
    pairs += model_tensors.pairs(after_step)
    if after_step:
        m_state = optimizer_state(manual_twin.optimizer, names)
        t_state = optimizer_state(torch_twin.optimizer, names)
        pairs += [(name, m_state.get(name), model_tensors.state_view(name, t_state.get(name)))
                  for name in sorted(m_state.keys() | t_state.keys())]
    return pairs


