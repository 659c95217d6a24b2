"""`torch_ref.summary(model, input_shape)`: the same structure and text as `manual.summary`, for torch models.

torch_ref never imports manual, so the small record types and the text layout below are a copy of
manual/inspection.py's; `compare.inspection_check` asserts that twin models give equal summaries, and the
tests compare the rendered text too, so the two copies cannot drift apart unnoticed.

Output shapes come from forward hooks on every module during one forward, in eval mode and under no_grad,
of a zeros batch of `input_shape` (batch dimension included) with the model's dtype and device; the hooks
are removed and each module's training flag restored afterwards. Statistics are computed in float64 with
torch ops (std with correction=0, as the manual side's population std).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: tuple | None
    num_params: int
    trainable: bool | None


@dataclass(frozen=True)
class ParamStats:
    name: str
    shape: tuple
    dtype: str
    mean: float
    std: float
    min: float
    max: float
    grad_norm: float | None


@dataclass(frozen=True)
class Summary:
    model: str
    input_shape: tuple
    layers: tuple
    parameters: tuple
    total_params: int
    trainable_params: int

    def __str__(self) -> str:
        return format_summary(self)


def format_summary(summary) -> str:
    """The layer table, the totals, then the parameter statistics (same text as manual's summary)."""
    layer_rows = [("layer", "type", "output shape", "params", "trainable")] + [
        (row.name or "(model)", row.type, "-" if row.output_shape is None else str(list(row.output_shape)),
         f"{row.num_params:,}", "-" if row.trainable is None else str(row.trainable)) for row in summary.layers]
    stat_rows = [("parameter", "shape", "dtype", "mean", "std", "min", "max", "grad norm")] + [
        (p.name, str(list(p.shape)), p.dtype, *(f"{v:.4g}" for v in (p.mean, p.std, p.min, p.max)),
         "-" if p.grad_norm is None else f"{p.grad_norm:.4g}") for p in summary.parameters]
    totals = (f"total params: {summary.total_params:,}  trainable: {summary.trainable_params:,}  "
              f"non-trainable: {summary.total_params - summary.trainable_params:,}  "
              f"(input shape {list(summary.input_shape)})")
    return "\n".join([f"{summary.model} summary", _table(layer_rows), totals, _table(stat_rows)])


def _table(rows) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parameter_stats(name: str, param: torch.Tensor) -> ParamStats:
    values = param.detach().to(torch.float64)
    grad_norm = None if param.grad is None else torch.linalg.vector_norm(param.grad.detach().to(torch.float64)).item()
    return ParamStats(name, tuple(values.shape), str(param.dtype).removeprefix("torch."), values.mean().item(),
                      values.std(correction=0).item(), values.min().item(), values.max().item(), grad_norm)


def _shape_of(output) -> tuple | None:
    """An output's shape; for several outputs (RNN's (output, h_n)) one shape per output, nested as they are
    (LSTM's (output, (h_n, c_n))); None for an absent one (attention's (output, None) without weights)."""
    if output is None:
        return None
    return tuple(_shape_of(o) for o in output) if isinstance(output, tuple) else tuple(output.shape)


def summary(model: torch.nn.Module, input_shape) -> Summary:
    """Layers, output shapes for an input of `input_shape` (batch dimension included), counts and statistics."""
    input_shape = tuple(int(d) for d in input_shape)
    params = list(model.named_parameters())
    reference = params[0][1] if params else torch.empty(0)
    shapes, handles = {}, []
    for name, module in model.named_modules():
        def record(_module, _inputs, output, _name=name):
            shapes[_name] = _shape_of(output)
        handles.append(module.register_forward_hook(record))
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            first_leaf = next((m for m in model.modules() if not list(m.children())), None)
            dtype = torch.int64 if isinstance(first_leaf, torch.nn.Embedding) else reference.dtype  # token indices
            model(torch.zeros(input_shape, dtype=dtype, device=reference.device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    layers = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        trainable = all(p.requires_grad for p in own) if own else None
        layers.append(LayerRow(name, type(module).__name__, shapes.get(name), sum(p.numel() for p in own), trainable))
    stats = tuple(parameter_stats(name, p) for name, p in params)
    total = sum(p.numel() for _, p in params)
    trainable_total = sum(p.numel() for _, p in params if p.requires_grad)
    return Summary(type(model).__name__, input_shape, tuple(layers), stats, total, trainable_total)
