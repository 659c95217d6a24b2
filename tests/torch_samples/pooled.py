"""One sample of torch's (or our own) run by both backends: every output, the gradient of every float input and
of every parameter, compared with the harness's tolerances. In float32 the error model judges the run, with
torch's own error measured against the same sample run by torch in float64, pooled over EVALUATIONS random
upstream gradients (test_rnn.py, test_attention.py)."""
import copy

import numpy as np
import torch

from compare.engine.comparison import compare_evaluations
from compare.engine.tolerances import error_model_for, tolerance_for
from compare.engine.twins import TORCH_DTYPES, to_numpy
from manual.gradcheck import flat_outputs

EVALUATIONS = 4  # float32: upstream gradients per sample, over which torch's rounding error is pooled


def leaves(value) -> list:
    """The arrays or tensors of a value that may nest tuples (LSTMCell's (h, c)), in order; None left out (the
    attention weights of need_weights=False)."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves(item)]
    return [] if value is None else [value]


def fresh_leaves(value, dtype: torch.dtype):
    """Float tensors (inside nested tuples) as new leaves in `dtype`, requiring grad as the originals do, so each
    evaluation (and the float64 reference) has its own grads."""
    if isinstance(value, (tuple, list)):
        return tuple(fresh_leaves(v, dtype) for v in value)
    if value is None or not value.is_floating_point():
        return value
    return value.detach().to(dtype, copy=True).requires_grad_(value.requires_grad)


def run_torch(module, args, kwargs: dict, grads) -> tuple:
    """(outputs, input leaves) of `module(*args, **kwargs)` after backward with `grads` (nested outputs flattened,
    absent ones left out)."""
    outputs = tuple(leaves(module(*args, **kwargs)))
    torch.autograd.backward(list(outputs), [torch.from_numpy(g).to(outputs[0].dtype) for g in grads])
    return outputs, leaves(args)


def _named(outputs, inputs, module) -> list:
    return ([(f"output.{i}", out) for i, out in enumerate(outputs)]
            + [(f"grad.input{i}", t.grad) for i, t in enumerate(inputs)]
            + [(f"grad.{name}", p.grad) for name, p in module.named_parameters()])


def sample_failures(torch_module, manual_module, args, kwargs: dict, dtype: str) -> list[str]:
    """The failing comparisons of manual against torch on `module(*args, **kwargs)` (the two modules holding the
    same state); [] when they agree. Manual's backward gets one gradient per output it returned (None for an absent
    one)."""
    reference = copy.deepcopy(torch_module).double()
    m_params = dict(manual_module.named_parameters())
    m_kwargs = to_numpy(kwargs)
    reference_kwargs = {k: v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                        for k, v in kwargs.items()}
    model = error_model_for(dtype)
    evaluations = []
    for grad_seed in range(1 if model is None else EVALUATIONS):
        for module in (torch_module, reference):
            module.zero_grad()
        manual_module.zero_grad()
        m_outputs = flat_outputs(manual_module(*to_numpy(args), **m_kwargs))  # absent ones as None
        rng = np.random.default_rng(grad_seed + 1)
        grads = [None if out is None else rng.standard_normal(np.shape(out)).astype(dtype) for out in m_outputs]
        given = [g for g in grads if g is not None]
        t_outputs, t_inputs = run_torch(torch_module, fresh_leaves(args, TORCH_DTYPES[dtype]), kwargs, given)
        m_input_grads = leaves(manual_module.backward(*grads))
        manual_values = [*leaves(m_outputs), *m_input_grads,
                         *[m_params[name].grad for name, _ in torch_module.named_parameters()]]
        pairs = [(name, m, to_numpy(t)) for (name, t), m in zip(_named(t_outputs, t_inputs, torch_module),
                                                                 manual_values, strict=True)]
        reference_values = None
        if model is not None:
            reference_values = dict(_named(*run_torch(reference, fresh_leaves(args, torch.float64), reference_kwargs,
                                                      given), reference))
        evaluations.append((pairs, reference_values))
    return [c.describe() for c in compare_evaluations(evaluations, tolerance_for(dtype), model) if not c.passed]
