"""Conv and pooling layers beyond the module catalogue: torch's init, keys and shapes, refusals, the tie rule by
hand, needs_input_grad, read-only inputs, the CNN twins, and the backward's memory bound."""
import argparse
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import manual.models
import manual.nn as mnn
import torch_ref.models
from compare.bench import sizes, timing
from compare.catalogue.case_types import ModuleCase
from compare.catalogue.inputs import normal
from compare.checks.module_check import check_module_case
from compare.cli import cv as cli_cv
from compare.cli import recipe_args
from compare.realdata import cv
from manual import random
from tests.manual.test_fuzz import pool_output, window_wholly_in_padding

CONV_SPECS = [("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3)),
              ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=(2, 5), groups=2, bias=False)),
              ("Conv1d", dict(in_channels=3, out_channels=8, kernel_size=4, padding="same")),
              ("Conv1d", dict(in_channels=6, out_channels=3, kernel_size=2, groups=3))]


@pytest.mark.parametrize("name, kwargs", CONV_SPECS)
def test_state_dict_keys_shapes_and_init_bounds_as_torch(name, kwargs):
    torch_state = getattr(torch.nn, name)(**kwargs).state_dict()
    layer = getattr(mnn, name)(**kwargs)
    state = layer.state_dict()
    assert list(state) == list(torch_state)
    assert {k: v.shape for k, v in state.items()} == {k: tuple(v.shape) for k, v in torch_state.items()}
    assert all(v.dtype == np.float32 for v in state.values())
    fan_in = kwargs["in_channels"] // kwargs.get("groups", 1) * int(np.prod(layer.kernel_size))
    for value in state.values():  # U(-1/√fan_in, 1/√fan_in), torch's kaiming_uniform_(a=√5) and bias rule
        assert np.abs(value).max() <= 1 / np.sqrt(fan_in)


def test_init_fills_the_uniform_range():
    random.manual_seed(0)
    weight = mnn.Conv2d(16, 32, 3).weight.data  # fan_in 144: bound 1/12
    assert 0.98 / 12 < np.abs(weight).max() <= 1 / 12
    assert abs(weight.std() - (1 / 12) / np.sqrt(3)) < 2e-3  # the std of U(-b, b) is b/√3


@pytest.mark.parametrize("make, error, words", [
    (lambda: mnn.Conv2d(2, 4, 3, padding_mode="reflect"), NotImplementedError, "padding_mode='reflect'"),
    (lambda: mnn.Conv2d(2, 4, 3, padding_mode="mirror"), ValueError, "padding_mode must be one of"),
    (lambda: mnn.Conv2d(2, 4, 3, stride=2, padding="same"), ValueError, "strided convolutions"),
    (lambda: mnn.Conv1d(2, 4, 3, padding="full"), ValueError, "invalid padding string"),
    (lambda: mnn.Conv2d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
    (lambda: mnn.AvgPool2d(2, divisor_override=0), ValueError, "divisor"),
])
def test_refused_options(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize("layer, shape, words", [
    (mnn.Conv2d(3, 4, 3), (2, 2, 5, 5), "3 channels"),
    (mnn.Conv2d(3, 4, 3), (3, 5), "3D \\(unbatched\\) or 4D"),
    (mnn.Conv2d(3, 4, 5), (1, 3, 4, 4), "smaller than the \\(dilated\\) kernel"),
    (mnn.Conv1d(3, 4, 3), (2, 3, 4, 4), "2D \\(unbatched\\) or 3D"),
    (mnn.MaxPool2d(2, padding=2), (1, 1, 6, 6), "at most half of kernel size"),
    (mnn.AvgPool2d(7), (1, 1, 6, 6), "too small"),
    (mnn.MaxPool2d(2), (6, 6), "3D \\(C, H, W\\) or 4D"),
])
def test_bad_inputs_raise_naming_the_layer(layer, shape, words):
    with pytest.raises(ValueError, match=words) as raised:
        layer(np.zeros(shape, dtype=np.float32))
    assert type(layer).__name__ in str(raised.value)


def test_grad_output_of_the_wrong_shape_raises():
    layer = mnn.Conv2d(2, 3, 3, padding=1)
    layer(np.zeros((1, 2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="Conv2d"):
        layer.backward(np.zeros((1, 3, 2, 2), dtype=np.float32))


def test_max_pool_gives_a_tied_window_gradient_to_its_first_maximum():
    x = np.array([[[[1.0, 3.0, 2.0, 2.0],
                    [3.0, 0.0, 2.0, 2.0]]]])  # windows [[1, 3], [3, 0]] and [[2, 2], [2, 2]]
    pool = mnn.MaxPool2d(2)
    np.testing.assert_array_equal(pool(x), [[[[3.0, 2.0]]]])
    grad = pool.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_avg_pool_divisors_by_hand():
    """3×3 windows, stride 2, padding 1 on a 4×4 input of ones. Per dim the windows start at -1, 1 and (ceil_mode
    only) 3; they hold 2, 3, 1 input cells, and 3, 3, 2 cells of the padded input (the last one is clipped at
    H + padding = 5, as torch): window (i, j) sums in_i·in_j and divides by pad_i·pad_j (count_include_pad),
    in_i·in_j (not) or the override."""
    x = np.ones((1, 1, 4, 4))
    inside, padded = np.array([2, 3, 1]), np.array([3, 3, 2])
    sums = np.outer(inside, inside)
    np.testing.assert_allclose(mnn.AvgPool2d(3, 2, 1, ceil_mode=True)(x)[0, 0], sums / np.outer(padded, padded))
    np.testing.assert_allclose(mnn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(x)[0, 0],
                               np.ones((3, 3)))
    np.testing.assert_allclose(mnn.AvgPool2d(3, 2, 1, divisor_override=2)(x)[0, 0], sums[:2, :2] / 2)


def test_needs_input_grad_false_skips_only_the_input_gradient():
    rng = np.random.default_rng(0)
    x, grad = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 4, 3, 3))
    full, first = (mnn.Conv2d(3, 4, 3, stride=2, padding=1, dtype="float64") for _ in range(2))
    first.load_state_dict(full.state_dict())
    first.needs_input_grad = False
    full(x), first(x)
    assert full.backward(grad) is not None and first.backward(grad) is None
    for name, param in full.named_parameters():
        np.testing.assert_array_equal(dict(first.named_parameters())[name].grad, param.grad)


@pytest.mark.parametrize("layer", [mnn.Conv2d(3, 4, 3, padding=1, groups=1), mnn.Conv1d(3, 6, 3, groups=3),
                                   mnn.MaxPool2d(3, 2, 1), mnn.AvgPool2d(2), mnn.AdaptiveAvgPool2d(2)])
def test_read_only_input_and_grad_output(layer):
    rng = np.random.default_rng(0)
    shape = (2, 3, 7) if isinstance(layer, mnn.Conv1d) else (2, 3, 6, 6)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flags.writeable = False
    y = layer(x)
    grad = np.ones_like(y)
    grad.flags.writeable = False
    assert layer.backward(grad).shape == x.shape


@pytest.mark.parametrize("kwargs, shape", [
    (dict(in_channels=1, image_size=8, num_classes=10), (2, 1, 8, 8)),
    (dict(in_channels=3, image_size=64, num_classes=10, channels=(4, 8, 8), kernel_size=5), (2, 3, 64, 64)),
    (dict(in_channels=2, image_size=(9, 6), num_classes=3, kernel_size=2), (2, 2, 9, 6)),
])
def test_cnn_twins_share_keys_shapes_and_outputs(kwargs, shape):
    torch_model = torch_ref.models.CNN(**kwargs, dtype=torch.float64)
    model = manual.models.CNN(**kwargs, dtype="float64")
    model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
    assert [(k, v.shape) for k, v in model.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in torch_model.state_dict().items()]
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(model(x), torch_model(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-13)


def test_cnn_refuses_an_image_too_small_for_its_blocks():
    with pytest.raises(ValueError, match="too small"):
        manual.models.CNN(1, 3, 10)


def _traced_peak(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_conv2d_builds_no_whole_batch_im2col_array():
    """Peak memory of forward and backward stays below half of one whole-batch im2col array (N·C·kh·kw·Ho·Wo
    values): forward and backward go through the batch in chunks (functional.conv_shifts at stride 1)."""
    layer = mnn.Conv2d(8, 8, 5, padding=2)
    x = np.random.default_rng(0).standard_normal((8, 8, 32, 32)).astype(np.float32)
    grad = np.ones((8, 8, 32, 32), dtype=np.float32)
    im2col_bytes = x.size * 25 * x.itemsize
    forward_peak = _traced_peak(lambda: layer(x))
    backward_peak = _traced_peak(lambda: layer.backward(grad))
    assert forward_peak < im2col_bytes / 2, f"forward peak {forward_peak} bytes vs im2col {im2col_bytes}"
    assert backward_peak < im2col_bytes / 2, f"backward peak {backward_peak} bytes vs im2col {im2col_bytes}"


def test_cnn_bench_size_flops_by_hand_and_twins_agree():
    """batch 32, 3×64×64, convs 3→8 and 8→16 (k3, same size), pools to 32×32 and 16×16, Linear(16·16·16, 10)."""
    size = sizes.SIZES["cnn"]
    conv1, conv2 = 2 * 32 * 8 * 64 * 64 * 3 * 9, 2 * 32 * 16 * 32 * 32 * 8 * 9
    assert size.flops == 2 * conv1 + 3 * conv2 + 2 * 2 * 32 * 16 * 16 * 16 * 10  # no dX for the data
    assert not size.sklearn and sizes.SIZES["small"].sklearn
    timing.check_agreement(size, "float32")


def test_cv_trains_the_cnn_on_digit_images():
    pytest.importorskip("sklearn")
    parser = argparse.ArgumentParser()
    cli_cv.add_arguments(parser)
    args = parser.parse_args(["--model", "cnn", "--limit", "60", "--folds", "2", "--epochs", "1", "--no-sklearn"])
    dataset = recipe_args.dataset_from_args(args, 2, "2-fold stratified cross-validation")
    assert dataset.X.shape == (60, 1, 8, 8)
    recipe = recipe_args.recipe_from_args(args, dataset)
    assert recipe.model == ("CNN", {"in_channels": 1, "image_size": (8, 8), "num_classes": 10})
    _, splits = cv.make_splits(dataset, folds=2)
    assert all(result.agree for result in cv.run_cv(dataset, recipe, splits, peer=True))  # the peer sits out


# -- property tests: random geometry against torch (compare/checks/module_check.py, tolerances of compare/engine/tolerances.py)
def _matches_torch(module, shape, dtype, seed):
    errors = check_module_case(ModuleCase("property", module, normal(*shape)), dtype, seed)
    failing = [e.describe() for e in errors if not e.passed]
    assert not failing, f"{module} on {shape} [{dtype}, seed {seed}]: " + "; ".join(failing)


DTYPES, SEEDS, SMALL = st.sampled_from(["float32", "float64"]), st.integers(0, 2**16), st.integers(1, 3)


@given(st.data(), st.sampled_from([1, 2]), SMALL, SMALL, DTYPES, SEEDS)
def test_conv_property(data, dims, groups, per_group, dtype, seed):
    kernel = tuple(data.draw(st.lists(st.integers(1, 4), min_size=dims, max_size=dims)))
    dilation = tuple(data.draw(st.lists(st.integers(1, 2), min_size=dims, max_size=dims)))
    stride = tuple(data.draw(st.lists(st.integers(1, 3), min_size=dims, max_size=dims)))
    padding = data.draw(st.sampled_from(["same", "valid"]) if stride == (1,) * dims else
                        st.lists(st.integers(0, 2), min_size=dims, max_size=dims).map(tuple))
    spatial = tuple(d * (k - 1) + 1 + data.draw(st.integers(0, 4)) for k, d in zip(kernel, dilation, strict=True))
    batch = data.draw(st.sampled_from([(), (1,), (2,)]))
    module = (f"Conv{dims}d", {"in_channels": groups * per_group, "out_channels": groups * data.draw(SMALL),
                               "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
                               "groups": groups, "bias": data.draw(st.booleans())})
    _matches_torch(module, (*batch, groups * per_group, *spatial), dtype, seed)


@given(st.data(), st.sampled_from(["MaxPool2d", "AvgPool2d"]), st.booleans(), DTYPES, SEEDS)
def test_pool_property(data, name, ceil_mode, dtype, seed):
    kernel = tuple(data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2)))
    stride = tuple(data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=2)))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(data.draw(st.lists(st.integers(1, 2), min_size=2, max_size=2))) if name == "MaxPool2d" else (1, 1)
    spatial = tuple(d * (k - 1) + 1 + data.draw(st.integers(0, 5)) for k, d in zip(kernel, dilation, strict=True))
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    if name == "MaxPool2d":
        kwargs["dilation"] = dilation
    else:
        kwargs["count_include_pad"] = data.draw(st.booleans())
        kwargs["divisor_override"] = data.draw(st.sampled_from([None, None, 3]))
    _matches_torch((name, kwargs), (*data.draw(st.sampled_from([(), (2,)])), 2, *spatial), dtype, seed)


@given(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2, 3, 5, None]), st.integers(1, 6), DTYPES, SEEDS)
def test_adaptive_avg_pool_property(height, width, out_height, out_width, dtype, seed):
    _matches_torch(("AdaptiveAvgPool2d", {"output_size": (out_height, out_width)}), (2, 3, height, width), dtype, seed)


def test_max_pool_window_of_minus_infinity_sends_its_gradient_to_its_first_real_element():
    """torch skips the padding: a window whose real values are all -inf still picks its first real position."""
    x = np.full((1, 1, 3, 4), -np.inf)
    pool, torch_pool = mnn.MaxPool2d(3, stride=2, padding=1, dilation=(1, 2)), torch.nn.MaxPool2d(3, 2, 1, (1, 2))
    x_t = torch.from_numpy(x).requires_grad_(True)
    y_t = torch_pool(x_t)
    grad = np.arange(1.0, 1.0 + y_t.numel()).reshape(y_t.shape)
    y_t.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(pool(x), y_t.detach().numpy())
    np.testing.assert_array_equal(pool.backward(grad), x_t.grad.numpy())


SPECIAL_VALUES = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf, np.nan])


@given(st.data(), st.booleans(), SEEDS)
def test_max_pool_with_nan_and_inf_matches_torch_on_both_paths(data, special_grad, seed):
    """Values and gradients from {-inf, -1, 0, 1, inf, NaN}: the finite windows go the fast way (row maxima first,
    G·mask), the rest in order (NaN and inf maxima, windows all -inf, a non-finite G); both must be torch's."""
    kernel = tuple(data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=2)))
    stride = tuple(data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=2)))
    dilation = tuple(data.draw(st.lists(st.integers(1, 2), min_size=2, max_size=2)))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    ceil_mode = data.draw(st.booleans())
    spatial = tuple(d * (k - 1) + 1 + data.draw(st.integers(0, 4)) for k, d in zip(kernel, dilation, strict=True))
    outs = [pool_output(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation,
                                                                          strict=True)]
    assume(not any(window_wholly_in_padding(n, k, s, p, d, o) for n, k, s, p, d, o in zip(
        spatial, kernel, stride, padding, dilation, outs, strict=True)))  # torch's memory bug (test_fuzz.py)
    rng = np.random.default_rng(seed)
    x = rng.choice(SPECIAL_VALUES[:5] if data.draw(st.booleans()) else SPECIAL_VALUES, size=(2, 2, *spatial))
    pool = mnn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    torch_pool = torch.nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    x_t = torch.from_numpy(x).requires_grad_(True)
    y_t = torch_pool(x_t)
    grad = rng.choice(SPECIAL_VALUES if special_grad else SPECIAL_VALUES[1:4], size=tuple(y_t.shape))
    y_t.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(pool(x), y_t.detach().numpy())
    np.testing.assert_array_equal(pool.backward(grad), x_t.grad.numpy())
