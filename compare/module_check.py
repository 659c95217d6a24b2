"""One module or loss, manual vs torch autograd: output, dL/d(input), every parameter's grad, every buffer."""
import inspect

import numpy as np
import torch

import manual.nn
import torch_ref.nn as torch_extra
from compare.comparison import compare_once
from compare.harness import TensorError
from compare.masks import share_dropout_masks
from compare.reference import ModuleReference
from compare.tolerances import error_model_for, tolerance_for
from compare.twins import TORCH_DTYPES, cast_arrays, to_numpy, to_torch


def torch_class(name: str):
    found = getattr(torch.nn, name, None) or getattr(torch_extra, name, None)
    if found is None:
        raise LookupError(f"neither torch.nn nor torch_ref.nn has {name}")
    return found


def build_pair(case, dtype: str, seed: int = 0):
    """(torch module, manual module) with the same parameters, buffers, mode and (Dropout) masks.

    torch initialises; `case.state` (when given) overrides part of its state_dict (e.g. BatchNorm running
    statistics, tied Maxout pieces); manual loads the result.
    """
    name, kwargs = case.module
    torch.manual_seed(seed)
    torch_module = torch_class(name)(**to_torch(kwargs, "cpu", TORCH_DTYPES[dtype]))
    torch_module.to(TORCH_DTYPES[dtype])
    if case.state is not None:
        state = {**torch_module.state_dict(), **case.state(np.random.default_rng(seed + 2))}
        torch_module.load_state_dict(to_torch(state, "cpu", TORCH_DTYPES[dtype]))
    manual_kwargs = {**cast_arrays(kwargs, dtype), **({"dtype": dtype} if _takes_dtype(name) else {})}
    manual_module = getattr(manual.nn, name)(**manual_kwargs)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    torch_module.train(case.train)
    manual_module.train(case.train)
    share_dropout_masks(torch_module, manual_module)
    return torch_module, manual_module


def _takes_dtype(name: str) -> bool:
    return "dtype" in inspect.signature(getattr(manual.nn, name)).parameters


def make_inputs(case, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = case.input(rng).astype(dtype)
    target = None if case.target is None else case.target(rng)
    if target is not None and target.dtype.kind == "f":
        target = target.astype(dtype)
    return x, target


def check_module_case(case, dtype: str, seed: int = 0) -> list[TensorError]:
    """float64: elementwise rtol/atol; float32: the error model of compare/tolerances.py, with torch's own float32
    error measured against the same module run by torch in float64 from the same state and inputs."""
    tolerance, model = tolerance_for(dtype), error_model_for(dtype)
    torch_module, manual_module = build_pair(case, dtype, seed)
    reference = ModuleReference(torch_module) if model is not None else None
    x, target = make_inputs(case, dtype, seed)
    x_t = torch.from_numpy(x).requires_grad_(True)
    if case.target is None:
        t_out = torch_module(x_t)
        m_out = manual_module(x)
    else:
        t_out = torch_module(x_t, torch.from_numpy(target))
        m_out = manual_module(x, target)
    grad_output = None
    if np.ndim(m_out) > 0 or case.target is None:
        grad_output = np.random.default_rng(seed + 1).standard_normal(np.shape(m_out)).astype(dtype)
    t_out.backward(None if grad_output is None else torch.from_numpy(grad_output))
    m_grad = manual_module.backward(grad_output)
    m_params = dict(manual_module.named_parameters())
    m_buffers = dict(manual_module.named_buffers())
    pairs = [("output", m_out, to_numpy(t_out)), ("grad.input", m_grad, to_numpy(x_t.grad))]
    pairs += [(f"grad.{n}", m_params[n].grad, to_numpy(p.grad)) for n, p in torch_module.named_parameters()]
    pairs += [(f"buffer.{n}", m_buffers[n], to_numpy(b)) for n, b in torch_module.named_buffers()]
    errors = compare_once(pairs, tolerance, model, reference and reference.values(x, target, grad_output))
    if case.finite:
        manual_values = {"output": m_out, "grad.input": m_grad, **{f"grad.{n}": p.grad for n, p in m_params.items()}}
        errors += [_not_finite(name, value) for name, value in manual_values.items() if not np.isfinite(value).all()]
    return errors


def _not_finite(name: str, value) -> TensorError:
    """A failing entry for a manual tensor with NaN/Inf where the case requires finite values."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(np.asarray(value)))[0])
    return TensorError(0, f"{name} (not finite)", np.inf, np.inf, np.inf, index, float(np.asarray(value)[index]),
                       np.nan)
