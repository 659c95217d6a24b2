"""One module or loss, manual vs torch autograd: output, dL/d(input), every parameter's grad, every buffer."""
import inspect

import numpy as np
import torch

import manual.nn
from compare.harness import TensorError, compare_arrays
from compare.tolerances import tolerance_for
from compare.twins import TORCH_DTYPES, to_numpy, to_torch

try:
    import torch_ref.nn as torch_extra
except ImportError:  # torch_ref.nn holds only what torch.nn lacks
    torch_extra = None


def torch_class(name: str):
    found = getattr(torch.nn, name, None) or getattr(torch_extra, name, None)
    if found is None:
        raise LookupError(f"neither torch.nn nor torch_ref.nn has {name}")
    return found


def build_pair(case, dtype: str, seed: int = 0):
    """(torch module, manual module) with the same parameters and buffers."""
    name, kwargs = case.module
    torch.manual_seed(seed)
    torch_module = torch_class(name)(**to_torch(kwargs, "cpu", TORCH_DTYPES[dtype]))
    torch_module.to(TORCH_DTYPES[dtype])
    manual_module = getattr(manual.nn, name)(**{**kwargs, **({"dtype": dtype} if _takes_dtype(name) else {})})
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
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
    tolerance = tolerance_for(dtype)
    torch_module, manual_module = build_pair(case, dtype, seed)
    x, target = make_inputs(case, dtype, seed)
    x_t = torch.from_numpy(x).requires_grad_(True)
    if case.target is None:
        t_out, m_out = torch_module(x_t), manual_module(x)
    else:
        t_out, m_out = torch_module(x_t, torch.from_numpy(target)), manual_module(x, target)
    grad_output = None
    if np.ndim(m_out) > 0 or case.target is None:
        grad_output = np.random.default_rng(seed + 1).standard_normal(np.shape(m_out)).astype(dtype)
    t_out.backward(None if grad_output is None else torch.from_numpy(grad_output))
    m_grad = manual_module.backward(grad_output)
    errors = [compare_arrays(0, "output", m_out, to_numpy(t_out), tolerance),
              compare_arrays(0, "grad.input", m_grad, to_numpy(x_t.grad), tolerance)]
    m_params = dict(manual_module.named_parameters())
    errors += [compare_arrays(0, f"grad.{n}", m_params[n].grad, to_numpy(p.grad), tolerance)
               for n, p in torch_module.named_parameters()]
    m_buffers = dict(manual_module.named_buffers())
    errors += [compare_arrays(0, f"buffer.{n}", m_buffers[n], to_numpy(b), tolerance)
               for n, b in torch_module.named_buffers()]
    return errors
