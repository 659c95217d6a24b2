"""The Module/Optimizer protocol mirrors torch: names, state_dict layout, accumulation, backward rules."""
import inspect

import numpy as np
import pytest
import torch

import manual
import manual.models
import manual.nn as mnn
import manual.optim
import torch_ref.models
from compare.catalogue.case_types import ModuleCase
from compare.catalogue.module_cases import MODULE_CASES
from compare.checks.module_check import build_manual, build_pair, make_arguments
from compare.engine.twins import classes, to_numpy

MODELS = [
    ("LinearRegression", {"in_features": 5}),
    ("LinearRegression", {"in_features": 5, "out_features": 2}),
    ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
    ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": "sigmoid"}),
]


@pytest.mark.parametrize("name, kwargs", MODELS, ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_dict_keys_shapes_and_dtypes_match_torch(name, kwargs, dtype):
    torch_model = getattr(torch_ref.models, name)(**kwargs, dtype=getattr(torch, dtype))
    manual_model = getattr(manual.models, name)(**kwargs, dtype=dtype)
    torch_sd, manual_sd = torch_model.state_dict(), manual_model.state_dict()
    assert list(manual_sd) == list(torch_sd)
    for key in torch_sd:
        assert manual_sd[key].shape == tuple(torch_sd[key].shape), key
        assert manual_sd[key].dtype == np.dtype(dtype), key
    manual_model.load_state_dict(torch_sd)  # torch tensors are array-likes
    for key in torch_sd:
        np.testing.assert_array_equal(manual_model.state_dict()[key], torch_sd[key].numpy(), err_msg=key)
    assert [n for n, _ in manual_model.named_parameters()] == [n for n, _ in torch_model.named_parameters()]


def test_default_dtype_is_float32_and_init_bound_is_torchs():
    layer = mnn.Linear(16, 3)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= 0.25 and np.abs(layer.bias.data).max() <= 0.25


def test_load_state_dict_reports_every_problem_and_honours_strict():
    model = manual.models.MLP(4, [6], 3)
    state = model.state_dict()
    state.pop("0.bias")
    state["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError) as raised:
        model.load_state_dict(state)
    assert '"0.bias"' in str(raised.value) and '"extra"' in str(raised.value)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra"]
    state["0.weight"] = np.zeros((4, 6))
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        model.load_state_dict(state, strict=False)


def test_load_state_dict_takes_lists_and_casts_to_the_parameter_dtype():
    layer = mnn.Linear(2, 1, dtype="float64")
    layer.load_state_dict({"weight": [[1.5, -2.0]], "bias": [0.25]})
    np.testing.assert_array_equal(layer.weight.data, [[1.5, -2.0]])
    assert layer.weight.dtype == np.float64


def test_backward_needs_a_fresh_forward():
    layer = mnn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3.*without a matching forward"):
        layer.backward(np.ones((1, 2), np.float32))
    layer(np.ones((1, 3), np.float32))
    layer.backward(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(np.ones((1, 2), np.float32))


def test_gradients_accumulate_until_zero_grad_like_torch():
    torch_layer = torch.nn.Linear(3, 2, dtype=torch.float64)
    layer = mnn.Linear(3, 2, dtype="float64")
    layer.load_state_dict(torch_layer.state_dict())
    batches = [np.random.default_rng(i).standard_normal((4, 3)) for i in range(2)]
    for x in batches:
        torch_layer(torch.from_numpy(x)).sum().backward()
        layer(x)
        layer.backward(np.ones((4, 2)))
    np.testing.assert_allclose(layer.weight.grad, torch_layer.weight.grad.numpy(), rtol=1e-12)
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_sgd_state_dict_layout_matches_torch():
    torch_model = torch_ref.models.MLP(4, [6], 3)
    manual_model = manual.models.MLP(4, [6], 3)
    kwargs = {"lr": 0.1, "momentum": 0.9}
    torch_opt = torch.optim.SGD(torch_model.parameters(), **kwargs)
    manual_opt = manual.optim.SGD(manual_model.parameters(), **kwargs)
    for model, opt in ((torch_model, torch_opt), (manual_model, manual_opt)):
        for p in model.parameters():
            p.grad = (torch.ones_like if isinstance(p, torch.Tensor) else lambda q: np.ones_like(q.data))(p)
        opt.step()
    torch_sd, manual_sd = to_numpy(torch_opt.state_dict()), manual_opt.state_dict()
    assert manual_sd["state"].keys() == torch_sd["state"].keys()
    assert all(manual_sd["state"][i].keys() == torch_sd["state"][i].keys() for i in torch_sd["state"])
    assert manual_sd["param_groups"][0]["params"] == torch_sd["param_groups"][0]["params"]
    assert set(manual_sd["param_groups"][0]) <= set(torch_sd["param_groups"][0])


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda case: case.name)
def test_forward_takes_input_as_keyword_like_torch(case):
    """torch's forward(input) (module_db's Linear sample passes `input=`); losses take (input, target); a module
    whose torch forward names its first argument otherwise (MultiheadAttention's query, key, value,
    TransformerEncoderLayer's src) takes torch's names. Every argument of the case is passed by its name."""
    module, arguments = build_manual(case), make_arguments(case, "float64")
    names = list(inspect.signature(module.forward).parameters)[:len(arguments)]
    torch_cls = classes("module", case.module[0])[1]
    if torch_cls.__module__.startswith("torch.nn"):  # torch's own class (torch_ref's Maxout names it x)
        assert names[0] == list(inspect.signature(torch_cls.forward).parameters)[1]  # after self
    output = module(**dict(zip(names, arguments, strict=True)))
    expected = module(*arguments)
    shapes = [np.shape(o) for o in (output if isinstance(output, tuple) else (output,))]
    assert shapes == [np.shape(o) for o in (expected if isinstance(expected, tuple) else (expected,))]


ZERO_SIZE = [
    ("Softmax", {"dim": 1}, (3, 0)),
    ("Softmax", {"dim": 1}, (0, 3)),
    ("LogSoftmax", {"dim": 0}, (0,)),
    ("LogSoftmax", {"dim": -1}, (2, 0)),
    ("Linear", {"in_features": 0, "out_features": 3}, (2, 0)),
    ("Linear", {"in_features": 3, "out_features": 0}, (2, 3)),
    ("Linear", {"in_features": 3, "out_features": 2}, (0, 3)),
    ("Maxout", {"in_features": 3, "out_features": 2, "pieces": 2}, (0, 3)),
    ("Maxout", {"in_features": 3, "out_features": 0, "pieces": 2}, (2, 3)),
    ("BatchNorm1d", {"num_features": 3}, (0, 3)),  # training: empty batch
    ("BatchNorm1d", {"num_features": 3, "momentum": None}, (0, 3, 4)),
    ("BatchNorm1d", {"num_features": 3, "affine": False}, (0, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", ZERO_SIZE, ids=lambda v: v if isinstance(v, str) else None)
def test_zero_size_inputs_as_torch(name, kwargs, shape):
    """Empty outputs, empty or zero gradients and (BatchNorm1d) num_batches_tracked + 1 with the running
    statistics unchanged, as torch."""
    case = ModuleCase(name, (name, kwargs), lambda rng: np.zeros(shape))
    torch_module, manual_module = build_pair(case, "float64")
    x = np.zeros(shape)
    x_t = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out, m_out = torch_module(x_t), manual_module(x)
    t_out.backward(torch.ones_like(t_out))
    np.testing.assert_array_equal(m_out, t_out.detach().numpy())
    np.testing.assert_array_equal(manual_module.backward(np.ones(m_out.shape)), x_t.grad.numpy())
    m_params = dict(manual_module.named_parameters())
    for key, param in torch_module.named_parameters():
        np.testing.assert_array_equal(m_params[key].grad, param.grad.numpy(), err_msg=key)
    for key, value in torch_module.state_dict().items():
        np.testing.assert_array_equal(manual_module.state_dict()[key], value.numpy(), err_msg=key)


class WrongTanh(mnn.Tanh):
    """A broken backward: the derivative of tanh taken as 1 - y instead of 1 - y²."""

    def backward(self, grad_output):
        (y,) = self.saved_for_backward()
        return grad_output * (1 - y)


def test_gradcheck_is_callable_from_the_package_top_like_torch_autograd_gradcheck():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert manual.gradcheck(mnn.Linear(4, 2, dtype="float64"), (x,))
    assert manual.gradcheck(mnn.MSELoss(reduction="none"), (x, np.zeros((3, 4))))
    with pytest.raises(manual.gradcheck.GradcheckError, match=r"gradcheck\(WrongTanh\(\)\): Jacobian mismatch"):
        manual.gradcheck(WrongTanh(), x)
    assert manual.gradcheck(WrongTanh(), x, raise_exception=False) is False
    assert manual.gradcheck.check_module(mnn.Tanh(), x).mismatches(atol=1e-5, rtol=1e-3) == {"input": 0}  # reachable


class SlightlyWrongMSELoss(mnn.MSELoss):
    """dL/d(input) off by a factor 1 + 1e-4: inside torch's default rtol (1e-3), outside rtol 1e-6."""

    def backward(self, grad_output=None):
        return super().backward(grad_output) * (1 + 1e-4)


def test_gradcheck_of_a_loss_applies_the_atol_and_rtol_it_is_given():
    x, target = np.random.default_rng(0).standard_normal((3, 4)), np.zeros((3, 4))
    assert manual.gradcheck(SlightlyWrongMSELoss(reduction="none"), (x, target))
    assert not manual.gradcheck(SlightlyWrongMSELoss(reduction="none"), (x, target), atol=0.0, rtol=1e-6,
                                raise_exception=False)
