"""`manual.summary(model, input_shape)`: the layers of a model, their output shapes, parameter counts and
weight statistics. `torch_ref.summary` builds the same structure for a torch model (`compare.inspection_check`
asserts that twins give equal summaries).

Layers: one row per module in `named_modules()` order, the model itself first (name ""), each with the
output shape of its forward on a zeros batch of `input_shape` (batch dimension included; int64 token indices
when the model's first layer is an Embedding, else the parameters' dtype), the number of
parameter elements it owns directly (children are counted in their own rows, so the rows add up to the
total), and whether those parameters are trainable (None when it owns none; manual has no frozen parameters,
so a manual Parameter is trainable unless it carries `requires_grad = False`).
Parameters: one entry per `named_parameters()` name with mean, population std (ddof=0), min, max and the L2
norm of `.grad` (None while the grad is None), all computed in float64 so they describe the stored values.

The forward runs in eval mode and leaves no trace: each module's training flag and saved-for-backward state
are restored, so `summary` may be called between a forward and its backward.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manual.nn.embedding import Embedding
from manual.nn.grad_mode import no_grad


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
    """The layer table, the totals, then the parameter statistics (same text as torch_ref's summary)."""
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


def parameter_stats(name: str, data: np.ndarray, grad: np.ndarray | None) -> ParamStats:
    values = np.asarray(data, dtype=np.float64)
    grad_norm = None if grad is None else float(np.linalg.norm(np.asarray(grad, dtype=np.float64).ravel()))
    return ParamStats(name, tuple(values.shape), np.asarray(data).dtype.name, float(values.mean()),
                      float(values.std()), float(values.min()), float(values.max()), grad_norm)


def _shape_of(output) -> tuple | None:
    """An output's shape; for several outputs (RNN's (output, h_n)) one shape per output, nested as they are
    (LSTM's (output, (h_n, c_n))); None for an absent one (attention's (output, None) without weights)."""
    if output is None:
        return None
    return tuple(_shape_of(o) for o in output) if isinstance(output, tuple) else tuple(np.shape(output))


def _output_shapes(model, x) -> dict[str, tuple]:
    """Run `model(x)` with each module's forward wrapped to record its output shape, then unwrap."""
    shapes, modules = {}, list(model.named_modules())
    for name, module in modules:
        def recording(*args, _name=name, _forward=module.forward, **kwargs):
            output = _forward(*args, **kwargs)
            shapes[_name] = _shape_of(output)
            return output
        object.__setattr__(module, "forward", recording)
    try:
        with no_grad():  # a look at shapes: keep nothing for a backward, lock nothing
            model(x)
    finally:
        for _, module in modules:
            module.__dict__.pop("forward", None)
    return shapes


def _leaves(model):
    return (module for module in model.modules() if not module._modules)


def summary(model, input_shape) -> Summary:
    """Layers, output shapes for an input of `input_shape` (batch dimension included), counts and statistics."""
    input_shape = tuple(int(d) for d in input_shape)
    params = list(model.named_parameters())
    dtype = params[0][1].dtype if params else np.float32
    modules = [module for _, module in model.named_modules()]
    saved = [(module.training, module.__dict__.get("_saved")) for module in modules]
    model.eval()
    try:
        takes_indices = isinstance(next(_leaves(model), None), Embedding)
        shapes = _output_shapes(model, np.zeros(input_shape, dtype=np.int64 if takes_indices else dtype))
    finally:
        for module, (training, saved_for_backward) in zip(modules, saved, strict=True):
            object.__setattr__(module, "training", training)
            object.__setattr__(module, "_saved", saved_for_backward)
    layers = []
    for name, module in model.named_modules():
        own = [p for p in module._parameters.values() if p is not None]
        trainable = all(getattr(p, "requires_grad", True) for p in own) if own else None
        layers.append(LayerRow(name, type(module).__name__, shapes.get(name), sum(p.data.size for p in own), trainable))
    stats = tuple(parameter_stats(name, p.data, p.grad) for name, p in params)
    total = sum(p.data.size for _, p in params)
    trainable_total = sum(p.data.size for _, p in params if getattr(p, "requires_grad", True))
    return Summary(type(model).__name__, input_shape, tuple(layers), stats, total, trainable_total)
