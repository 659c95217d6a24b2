"""torch's own test samples for MultiheadAttention and TransformerEncoderLayer (`module_db`), and samples of our own
for what torch's leave out (float and causal masks, need_weights=False, per-head weights, kdim/vdim, batch_first,
empty batches), run by both backends in float64 and float32: every output (the attention weights included),
the gradient of every float input and of every parameter, with the harness's tolerances (float32: the error
model against the same sample run by torch in float64).

torch's MultiheadAttention samples with add_bias_kv=True or add_zero_attn=True are refused by manual at
construction, with a message naming the argument (checked here); TransformerEncoderLayer's F.gelu/F.relu
activation is passed to manual by name."""

import pytest
import torch
import torch.nn.functional as TF

import manual.nn as mnn
from compare.engine.twins import TORCH_DTYPES, to_numpy
from tests.torch_samples.loader import each_sample, module_infos, module_inputs
from tests.torch_samples.pooled import sample_failures

NAMES = ("MultiheadAttention", "TransformerEncoderLayer")
ACTIVATION_NAMES = {TF.relu: "relu", TF.gelu: "gelu"}


def manual_arguments(kwargs: dict) -> dict:
    return {k: ACTIVATION_NAMES.get(v, v) if k == "activation" else v for k, v in kwargs.items()}


def torch_samples(name: str, dtype: str):
    """(label, sample) for each of torch's samples of `name`; built when the test runs, not at collection."""
    info = module_infos([name])[name]
    for index, sample in enumerate(module_inputs(info, TORCH_DTYPES[dtype])):
        constructor, forward = sample.constructor_input, sample.forward_input
        args, kwargs = list(constructor.args), dict(constructor.kwargs)
        if len(args) > 4:  # TransformerEncoderLayer(4, 2, 8, 0.0, F.gelu)
            kwargs["activation"], args = args[4], args[:4]
        yield f"{name}-{index}-{dtype}", (name, tuple(args), kwargs, forward.args, forward.kwargs, dtype)


def t(*shape, seed=0, dtype=torch.float64, boolean=False):
    generator = torch.Generator().manual_seed(seed)
    if boolean:
        return torch.rand(shape, generator=generator) < 0.3
    return torch.randn(shape, generator=generator, dtype=dtype)


CAUSAL = torch.triu(torch.ones(4, 4, dtype=torch.bool), 1)  # True above the diagonal: do not attend (torch's MHA)
PADDING = torch.tensor([[False, False, False, True], [False, False, True, True]])
FLOAT_PADDING = torch.zeros(2, 4, dtype=torch.float64).masked_fill(PADDING, float("-inf"))
OWN = [  # (name, constructor args, kwargs, forward args, kwargs)
    ("MultiheadAttention", (6, 2), {"batch_first": True}, (t(2, 4, 6), t(2, 5, 6, seed=1), t(2, 5, 6, seed=2)),
     {}),
    ("MultiheadAttention", (6, 3), {"kdim": 4, "vdim": 5}, (t(4, 2, 6), t(3, 2, 4, seed=1), t(3, 2, 5, seed=2)),
     {"average_attn_weights": False}),
    ("MultiheadAttention", (6, 2), {"batch_first": True, "bias": False},
     (t(2, 4, 6), t(2, 4, 6, seed=1), t(2, 4, 6, seed=2)), {"attn_mask": t(4, 4, seed=3), "need_weights": False}),
    ("MultiheadAttention", (6, 2), {"batch_first": True}, (t(2, 4, 6), t(2, 4, 6, seed=1), t(2, 4, 6, seed=2)),
     {"attn_mask": CAUSAL, "is_causal": True, "need_weights": False}),
    ("MultiheadAttention", (6, 2), {"batch_first": True}, (t(2, 4, 6), t(2, 4, 6, seed=1), t(2, 4, 6, seed=2)),
     {"attn_mask": CAUSAL, "is_causal": True, "key_padding_mask": PADDING}),
    ("MultiheadAttention", (6, 2), {}, (t(4, 2, 6), t(4, 2, 6, seed=1), t(4, 2, 6, seed=2)),
     {"attn_mask": t(4, 4, 4, seed=4), "key_padding_mask": FLOAT_PADDING, "need_weights": False}),
    ("MultiheadAttention", (6, 2), {"batch_first": True}, (t(0, 4, 6), t(0, 3, 6, seed=1), t(0, 3, 6, seed=2)), {}),
    ("MultiheadAttention", (6, 2), {"batch_first": True}, (t(2, 0, 6), t(2, 3, 6, seed=1), t(2, 3, 6, seed=2)), {}),
    ("TransformerEncoderLayer", (6, 2, 10, 0.0), {"batch_first": True, "norm_first": True, "activation": "gelu"},
     (t(2, 4, 6),), {"src_mask": CAUSAL, "is_causal": True}),
    ("TransformerEncoderLayer", (6, 3, 8, 0.0), {"layer_norm_eps": 1e-3}, (t(4, 2, 6),),
     {"src_key_padding_mask": PADDING}),
]


def own_samples(dtype: str):
    for index, (name, args, kwargs, forward_args, forward_kwargs) in enumerate(OWN):
        forward_args = tuple(a.to(TORCH_DTYPES[dtype]).requires_grad_() for a in forward_args)
        forward_kwargs = {k: v.to(TORCH_DTYPES[dtype]) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                          for k, v in forward_kwargs.items()}
        yield f"{name}-own{index}-{dtype}", (name, args, kwargs, forward_args, forward_kwargs, dtype)


def refused(name: str, kwargs: dict) -> str | None:
    return next((key for key in ("add_bias_kv", "add_zero_attn") if kwargs.get(key)), None)


def check_sample(name, args, kwargs, forward_args, forward_kwargs, dtype):
    torch.manual_seed(0)
    torch_module = getattr(torch.nn, name)(*args, **kwargs).to(TORCH_DTYPES[dtype])
    if refused(name, kwargs):
        with pytest.raises(ValueError, match=refused(name, kwargs)):
            getattr(mnn, name)(*args, **manual_arguments(kwargs), dtype=dtype)
        return
    manual_module = getattr(mnn, name)(*args, **manual_arguments(kwargs), dtype=dtype)
    manual_module.load_state_dict(to_numpy(torch_module.state_dict()))
    assert list(manual_module.state_dict()) == list(torch_module.state_dict())
    failing = sample_failures(torch_module, manual_module, forward_args, forward_kwargs, dtype)
    assert not failing, "; ".join(failing)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_torch_samples_match_torch(name, dtype, subtests):
    each_sample(subtests, torch_samples(name, dtype), check_sample)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_own_samples_match_torch(dtype, subtests):
    each_sample(subtests, own_samples(dtype), check_sample)
