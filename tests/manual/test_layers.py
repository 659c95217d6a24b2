"""What the one-step module catalogue cannot show: Maxout's layout, tie rule and torch gradcheck; Dropout mask
sharing; BatchNorm over several steps; the models' keys for every option; bad input errors."""
import numpy as np
import pytest
import torch

import manual
import manual.models
import manual.nn as mnn
import torch_ref.models
import torch_ref.nn as tnn
from compare.catalogue import training_cases
from compare.engine.masks import share_dropout_masks
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import to_numpy

F64 = tolerance_for("float64")


def assert_close64(manual_value, torch_value, name):
    np.testing.assert_allclose(manual_value, to_numpy(torch_value), rtol=F64.rtol, atol=F64.atol, err_msg=name)


# -- Maxout ---------------------------------------------------------------------------------------------
def test_torch_maxout_passes_autograd_gradcheck_in_float64():
    torch.manual_seed(0)
    layer = tnn.Maxout(5, 3, pieces=4, dtype=torch.float64)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    weight, bias = (p.detach().clone().requires_grad_(True) for p in (layer.weight, layer.bias))

    def maxout(x, weight, bias):
        return torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (x,))

    assert torch.autograd.gradcheck(maxout, (x, weight, bias))


@pytest.mark.parametrize("side", ["manual", "torch"])
def test_maxout_layout_groups_consecutive_rows_per_unit(side):
    """Rows j·pieces ... j·pieces + pieces - 1 are unit j's pieces: y_j = max_k (x Wᵀ + b)[j·pieces + k]."""
    rng = np.random.default_rng(0)
    weight, bias, x = rng.standard_normal((3 * 4, 5)), rng.standard_normal(12), rng.standard_normal((7, 5))
    expected = (x @ weight.T + bias).reshape(7, 3, 4).max(axis=-1)
    layer = (mnn.Maxout(5, 3, 4, dtype="float64") if side == "manual"
             else tnn.Maxout(5, 3, 4, dtype=torch.float64))
    layer.load_state_dict({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias)})
    y = layer(x) if side == "manual" else layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-14)


@pytest.mark.parametrize("side", ["manual", "torch"])
def test_maxout_tie_sends_the_gradient_to_the_first_piece(side):
    """All pieces tie (zero weights, equal biases): the whole gradient goes to piece 0 of each unit."""
    state = {"weight": torch.zeros(2 * 3, 4, dtype=torch.float64), "bias": torch.ones(6, dtype=torch.float64)}
    grad_output = np.array([[1.0, 2.0], [3.0, 4.0]])
    if side == "manual":
        layer = mnn.Maxout(4, 2, 3, dtype="float64")
        layer.load_state_dict(state)
        layer(np.ones((2, 4)))
        layer.backward(grad_output)
        grad_bias = layer.bias.grad
    else:
        layer = tnn.Maxout(4, 2, 3, dtype=torch.float64)
        layer.load_state_dict(state)
        layer(torch.ones(2, 4, dtype=torch.float64)).backward(torch.from_numpy(grad_output))
        grad_bias = layer.bias.grad.numpy()
    np.testing.assert_array_equal(grad_bias, [4.0, 0.0, 0.0, 6.0, 0.0, 0.0])


def test_maxout_state_dict_and_init_bound_match_torch_linear():
    manual_layer, torch_layer = mnn.Maxout(16, 3, 2), tnn.Maxout(16, 3, 2)
    assert list(manual_layer.state_dict()) == list(torch_layer.state_dict()) == ["weight", "bias"]
    assert manual_layer.weight.shape == tuple(torch_layer.weight.shape) == (6, 16)
    assert np.abs(manual_layer.weight.data).max() <= 0.25 and np.abs(manual_layer.bias.data).max() <= 0.25


# -- Dropout --------------------------------------------------------------------------------------------
def dropout_net(p=0.5):
    return torch.nn.Sequential(torch.nn.Linear(6, 20, dtype=torch.float64), torch.nn.Dropout(p),
                               torch.nn.Linear(20, 20, dtype=torch.float64), torch.nn.Dropout(p))


def test_shared_masks_leave_torchs_random_stream_untouched():
    x = torch.randn(8, 6, dtype=torch.float64)
    torch.manual_seed(1)
    plain = dropout_net()
    expected = [plain(x) for _ in range(3)] + [torch.rand(3)]
    torch.manual_seed(1)
    hooked = dropout_net()
    manual_net = mnn.Sequential(mnn.Linear(6, 20, dtype="float64"), mnn.Dropout(), mnn.Linear(20, 20, dtype="float64"),
                                mnn.Dropout())
    manual_net.load_state_dict(hooked.state_dict())
    share_dropout_masks(hooked, manual_net)
    for step, want in enumerate(expected[:3]):
        got = hooked(x)
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=f"torch output changed at step {step}")
        assert_close64(manual_net(x.numpy()), got, f"manual output, step {step}")
    torch.testing.assert_close(torch.rand(3), expected[3], rtol=0, atol=0)


def test_shared_mask_is_torchs_mask_also_where_the_input_is_zero():
    x = np.zeros((50, 40))
    x[:, ::2] = 1.0
    torch_dropout, manual_dropout = torch.nn.Dropout(0.3), mnn.Dropout(0.3)
    share_dropout_masks(torch_dropout, manual_dropout)
    torch.manual_seed(0)
    rng_before = torch.get_rng_state()
    torch.manual_seed(0)
    torch_dropout(torch.from_numpy(x))
    y = manual_dropout(np.ones_like(x))  # an all-ones input shows the mask torch used on the zeros too
    torch.set_rng_state(rng_before)
    expected_kept = torch.nn.functional.dropout(torch.ones(50, 40, dtype=torch.float64), 0.3, True).numpy() != 0
    np.testing.assert_array_equal(y != 0, expected_kept)
    np.testing.assert_array_equal(y[y != 0], 1 / 0.7)


def test_manual_dropout_without_torch_twin_draws_from_manual_random():
    layer = mnn.Dropout(0.2)
    x = np.ones((200, 100))
    manual.manual_seed(3)
    first = layer(x)
    manual.manual_seed(3)
    np.testing.assert_array_equal(layer(x), first)
    assert abs((first != 0).mean() - 0.8) < 0.01
    np.testing.assert_array_equal(np.unique(first), [0.0, 1.25])
    layer.backward(np.ones_like(x))
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


def test_a_manual_forward_before_the_torch_one_raises():
    torch_dropout, manual_dropout = torch.nn.Dropout(0.5), mnn.Dropout(0.5)
    share_dropout_masks(torch_dropout, manual_dropout)
    with pytest.raises(RuntimeError, match="no mask from the torch twin"):
        manual_dropout(np.ones((2, 3)))


# -- BatchNorm1d over several steps -----------------------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(16, 5), (4, 5, 7)], ids=["2d", "3d"])
def test_batchnorm_buffers_follow_torch_over_training_then_eval(momentum, shape):
    torch_bn = torch.nn.BatchNorm1d(5, momentum=momentum, dtype=torch.float64)
    manual_bn = mnn.BatchNorm1d(5, momentum=momentum, dtype="float64")
    rng = np.random.default_rng(0)
    for step in range(4):
        if step == 3:
            torch_bn.eval()
            manual_bn.eval()
        x = 3 * rng.standard_normal(shape) + 1
        g = rng.standard_normal(shape)
        x_t = torch.from_numpy(x).requires_grad_(True)
        torch_output = torch_bn(x_t)
        torch_output.backward(torch.from_numpy(g))
        assert_close64(manual_bn(x), torch_output, f"output, step {step}")
        assert_close64(manual_bn.backward(g), x_t.grad, f"grad input, step {step}")
        torch_state, manual_state = torch_bn.state_dict(), manual_bn.state_dict()
        assert list(manual_state) == list(torch_state)
        for key in torch_state:
            assert_close64(manual_state[key], torch_state[key], f"{key}, step {step}")
    counter = manual_bn.state_dict()["num_batches_tracked"]
    assert counter.dtype == np.int64 and counter.shape == () and int(counter) == 3  # eval left it alone


def test_batchnorm_without_running_stats_saves_only_affine_parameters():
    assert list(mnn.BatchNorm1d(3, track_running_stats=False).state_dict()) == \
        list(torch.nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert list(mnn.BatchNorm1d(3, affine=False).state_dict()) == \
        list(torch.nn.BatchNorm1d(3, affine=False).state_dict())


# -- models ---------------------------------------------------------------------------------------------
MLP_OPTIONS = ([{"activation": name} for name in manual.models.MLP_ACTIVATIONS]
               + [{"batch_norm": True, "dropout": 0.5}, {"activation": "maxout", "pieces": 3, "batch_norm": True,
                                                         "dropout": 0.1}])


@pytest.mark.parametrize("options", MLP_OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_mlp_has_torchs_structure_and_keys_for_every_option(options):
    torch_model = torch_ref.models.MLP(4, [6, 7], 3, **options, dtype=torch.float64)
    manual_model = manual.models.MLP(4, [6, 7], 3, **options, dtype="float64")
    assert [type(m).__name__ for m in manual_model] == [type(m).__name__ for m in torch_model]
    torch_state, manual_state = torch_model.state_dict(), manual_model.state_dict()
    assert list(manual_state) == list(torch_state)
    assert all(manual_state[k].shape == tuple(torch_state[k].shape) for k in torch_state)
    manual_model.load_state_dict(torch_state)
    torch_model.eval()
    manual_model.eval()
    x = np.random.default_rng(0).standard_normal((5, 4))
    assert_close64(manual_model(x), torch_model(torch.from_numpy(x)), "eval output")


@pytest.mark.parametrize("sigmoid", [False, True])
def test_logistic_regression_matches_torch(sigmoid):
    torch_model = torch_ref.models.LogisticRegression(3, sigmoid=sigmoid, dtype=torch.float64)
    manual_model = manual.models.LogisticRegression(3, sigmoid=sigmoid, dtype="float64")
    assert list(manual_model.state_dict()) == list(torch_model.state_dict()) == ["linear.weight", "linear.bias"]
    manual_model.load_state_dict(torch_model.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = manual_model(x)
    assert y.shape == (4, 1) and (((y > 0) & (y < 1)).all() or not sigmoid)
    assert_close64(y, torch_model(torch.from_numpy(x)), "output")


def test_the_compare_catalogue_trains_an_mlp_per_activation():
    used = {case.model[1].get("activation", "relu") for case in training_cases.CATALOGUE if case.model[0] == "MLP"}
    assert set(manual.models.MLP_ACTIVATIONS) <= used


# -- bad input ------------------------------------------------------------------------------------------
BAD_INPUTS = [
    (lambda: mnn.BCELoss()(np.array([0.5, 1.5]), np.array([0.0, 1.0])), ValueError,
     r"BCELoss\(.*between 0 and 1"),
    (lambda: mnn.BatchNorm1d(3)(np.ones((4, 2), np.float32)), ValueError,
     r"BatchNorm1d\(3.*expected input of shape \(N, 3\)"),
    (lambda: mnn.BatchNorm1d(3)(np.ones((1, 3), np.float32)), ValueError, "more than 1 value per channel"),
    (lambda: mnn.Maxout(4, 2, 3)(np.ones((2, 5), np.float32)), ValueError, r"Maxout\(in_features=4.*\(\*, 4\)"),
    (lambda: mnn.NLLLoss()(np.zeros((2, 3)), np.array([0, 3])), IndexError, r"Target 3 is out of bounds"),
    (lambda: mnn.NLLLoss()(np.zeros((2, 3)), np.zeros((2, 3))), ValueError, "class-index target"),
    (lambda: mnn.BCEWithLogitsLoss(pos_weight=np.ones(4))(np.zeros((2, 3)), np.zeros((2, 3))), ValueError,
     r"pos_weight of shape \(4,\) does not broadcast"),
    (lambda: mnn.L1Loss()(np.zeros((2, 3)), np.zeros((3, 2))), ValueError, r"target must have shape \(2, 3\)"),
    (lambda: mnn.Dropout(1.5), ValueError, "between 0 and 1"),
    (lambda: mnn.GELU(approximate="fast"), ValueError, "'none' or 'tanh'"),
    (lambda: mnn.HuberLoss(delta=0.0), ValueError, "delta must be positive"),
    (lambda: mnn.MSELoss(size_average=False), ValueError, "use reduction"),
    (lambda: manual.models.MLP(4, [5], 3, activation="swish"), ValueError, "unknown activation 'swish'"),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUTS)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
