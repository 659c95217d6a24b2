"""Which tensors a step compares, by name, on each side: output, loss, dL/dx, every parameter's grad and (after an
optimizer step) the parameter, every buffer, every optimizer-state tensor and each group's lr; and the float64
reference's value of each."""
from __future__ import annotations

from compare.engine.comparison import StepStats, as_array
from compare.engine.reference import Reference
from compare.engine.twins import Twin


def optimizer_state(optimizer, names: list[str]) -> dict:
    """Every optimizer-state tensor by parameter name, and each group's current lr (schedulers change it); live
    values, read straight from `optimizer.state` (torch's and manual's are both keyed by parameter)."""
    values = {f"state.group{i}.lr": group["lr"] for i, group in enumerate(optimizer.param_groups)}
    index = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                values[f"state.{names[index]}.{key}"] = value
            index += 1
    return values


class ModelTensors:
    """(name, manual value, torch value) for every parameter's grad (and, after an optimizer step, the parameter
    itself) and every buffer, by torch's names; the manual value is None where manual lacks the tensor.
    The parameters of both models are matched by torch's names once (they stay the same objects over a run; their
    data and grads change); buffers are looked up at each call (a module may replace a buffer array)."""

    def __init__(self, torch_model, manual_model):
        self.torch_model, self.manual_model = torch_model, manual_model
        m_params = dict(manual_model.named_parameters())
        self.params = [(name, m_params.get(name), t_param) for name, t_param in torch_model.named_parameters()]
        self.grad_names = [f"grad.{name}" for name, _, _ in self.params]
        self.param_names = [f"param.{name}" for name, _, _ in self.params]
        self.has_buffers = next(torch_model.buffers(), None) is not None

    def pairs(self, after_step: bool) -> list[tuple]:
        pairs = []
        for (_, m_param, t_param), grad_name, param_name in zip(self.params, self.grad_names, self.param_names):
            pairs.append((grad_name, None if m_param is None else m_param.grad, t_param.grad))
            if after_step:
                pairs.append((param_name, None if m_param is None else m_param.data, t_param))
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
        pairs += [(name, m_state.get(name), t_state.get(name)) for name in sorted(m_state.keys() | t_state.keys())]
    return pairs


def reference_values(reference: Reference, outputs: tuple, stats: StepStats, names: list[str], torch_twin: Twin,
                      after_step: bool) -> list:
    """The float64 reference's value of each tensor in `stats` (torch's own for the lr, computed in double)."""
    values = dict(zip(("output", "loss", "grad.input"), outputs))
    ref_model = reference.twin.model
    for name, param in ref_model.named_parameters():
        values[f"grad.{name}"] = param.grad
        values[f"param.{name}"] = param
    values.update((f"buffer.{name}", buffer) for name, buffer in ref_model.named_buffers())
    if after_step:
        values.update(optimizer_state(reference.twin.optimizer, names))
        values.update((k, v) for k, v in optimizer_state(torch_twin.optimizer, names).items() if ".group" in k)
    return [None if values.get(name) is None else as_array(values[name]) for name in stats.names]
