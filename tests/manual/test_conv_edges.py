"""Conv1d and Conv2d at their edges, against torch 2.13 (issue 20): the arguments torch refuses (with a message
naming the layer and the value given), zero batch, zero channels, grad_output of another dtype, a refused
backward that changes nothing and leaves the forward for a retry, and NaN kept to the windows that read it."""
import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.twins import to_numpy
from manual.nn import functional as F
from manual.nn.functional import conv_shifts


@pytest.mark.parametrize("name, kwargs, error, words", [
    ("Conv1d", dict(dilation=0), ValueError, "dilation must be positive.*got 0"),
    ("Conv2d", dict(dilation=(1, 0)), ValueError, r"dilation must be positive.*got \(1, 0\)"),
    ("Conv2d", dict(dilation=-1), ValueError, "dilation must be positive.*got -1"),
    ("Conv2d", dict(stride=0), ValueError, "stride must be positive.*got 0"),
    ("Conv1d", dict(stride=-2), ValueError, "stride must be positive.*got -2"),
    ("Conv2d", dict(kernel_size=0), ValueError, "kernel_size must be positive.*got 0"),
    ("Conv2d", dict(kernel_size=(1, 2, 3)), ValueError, r"kernel_size must be an int or a tuple of 2 ints.*\(1, 2, 3\)"),
    ("Conv1d", dict(kernel_size=(3, 2)), ValueError, r"kernel_size must be an int or a tuple of 1 int.*\(3, 2\)"),
    ("Conv2d", dict(kernel_size=2.0), TypeError, "kernel_size must be an int or a tuple of 2 ints, got 2.0 of type float"),
    ("Conv2d", dict(stride=(1, 1.5)), TypeError, "stride must be an int or a tuple of 2 ints"),
    ("Conv1d", dict(padding=(1, 2)), ValueError, r"padding must be an int or a tuple of 1 int.*\(1, 2\)"),
    ("Conv2d", dict(padding=-1), ValueError, "padding must be non-negative.*got -1"),
    ("Conv2d", dict(padding="same", stride=(1, 2)), ValueError, "padding='same' is not supported for strided"),
    ("Conv1d", dict(padding="same", stride=2), ValueError, "padding='same' is not supported for strided"),
    ("Conv2d", dict(in_channels=-1), ValueError, "in_channels must be a non-negative int, got -1"),
    ("Conv2d", dict(in_channels=3.0), TypeError, "in_channels must be a non-negative int, got 3.0"),
    ("Conv2d", dict(groups=0), ValueError, "groups must be a positive int, got 0"),
])
def test_arguments_torch_refuses_are_refused_naming_the_layer(name, kwargs, error, words):
    arguments = {"in_channels": 2, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(Exception):  # noqa: B017 - torch refuses too (in its constructor or its first forward)
        getattr(torch.nn, name)(**arguments)(torch.zeros((1, 2) + (8,) * (int(name[4]))))
    with pytest.raises(error, match=words) as raised:
        getattr(mnn, name)(**arguments)
    assert str(raised.value).startswith(name)


def torch_twin(layer, name):
    """torch's layer with `layer`'s arguments and weights, in float64."""
    twin = getattr(torch.nn, name)(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                   layer.padding, layer.dilation, layer.groups, layer.bias is not None).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return twin


def assert_matches_torch(layer, x):
    """layer's output, dL/dx and parameter gradients equal its float64 torch twin's on x (NaN in the same places),
    for a random grad_output."""
    twin = torch_twin(layer, type(layer).__name__)
    x_t = torch.from_numpy(x).requires_grad_(True)
    y_t = twin(x_t)
    grad = np.random.default_rng(1).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(layer(x), to_numpy(y_t), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(layer.backward(grad), to_numpy(x_t.grad), rtol=1e-10, atol=1e-13)
    for n, p in twin.named_parameters():
        np.testing.assert_allclose(dict(layer.named_parameters())[n].grad, to_numpy(p.grad), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name, kwargs, shape", [
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3), (0, 3, 5, 5)),  # zero batch
    ("Conv1d", dict(in_channels=3, out_channels=6, kernel_size=2, stride=2, groups=3), (0, 3, 7)),
    ("Conv1d", dict(in_channels=0, out_channels=3, kernel_size=3), (2, 0, 5)),  # zero channels: zero out too
    ("Conv2d", dict(in_channels=0, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 0, 7, 7)),
    ("Conv2d", dict(in_channels=0, out_channels=4, kernel_size=3, bias=False), (0, 7, 7)),  # unbatched
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, padding=2), (0, 3, 0, 4)),  # empty everything
])
def test_empty_batch_or_channels_give_torchs_shapes_and_zero_gradients(name, kwargs, shape):
    layer = getattr(mnn, name)(**kwargs, dtype="float64")
    twin = torch_twin(layer, name)
    x = np.zeros(shape)
    x_t = torch.from_numpy(x).requires_grad_(True)
    y_t = twin(x_t)
    y_t.sum().backward()
    y = layer(x)
    assert y.shape == tuple(y_t.shape) and y.dtype == np.float64
    grad_input = layer.backward(np.ones(y.shape))
    assert grad_input.shape == x.shape
    for n, p in twin.named_parameters():
        np.testing.assert_array_equal(dict(layer.named_parameters())[n].grad, to_numpy(p.grad))


def test_zero_out_channels_builds_but_refuses_the_forward_as_torch():
    layer, twin = mnn.Conv1d(3, 0, 3), torch.nn.Conv1d(3, 0, 3)
    assert layer.weight.data.shape == tuple(twin.weight.shape) == (0, 3, 3)
    with pytest.raises(RuntimeError):
        twin(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="Conv1d.*out_channels is 0"):
        layer(np.zeros((2, 3, 5), dtype=np.float32))


def test_an_empty_spatial_dim_is_refused_with_samples_and_channels_as_torch():
    with pytest.raises(RuntimeError, match="zero batch or zero channel"):
        torch.nn.Conv1d(3, 2, 3, padding=2)(torch.zeros(2, 3, 0))
    with pytest.raises(ValueError, match="Conv1d.*zero batch or zero channels.*\\(2, 3, 0\\)"):
        mnn.Conv1d(3, 2, 3, padding=2)(np.zeros((2, 3, 0), dtype=np.float32))


@pytest.mark.parametrize("grad_dtype", [np.float32, np.int64, np.int8, np.bool_])
def test_grad_output_of_another_real_dtype_is_cast_as_torch_does(grad_dtype):
    layer = mnn.Conv2d(2, 3, 3, padding=1, dtype="float64")
    twin = torch_twin(layer, "Conv2d")
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    grad = (np.random.default_rng(1).integers(0, 2 if grad_dtype is np.bool_ else 4, (2, 3, 5, 5))).astype(grad_dtype)
    x_t = torch.from_numpy(x).requires_grad_(True)
    twin(x_t).backward(torch.from_numpy(grad))
    layer(x)
    grad_input = layer.backward(grad)
    assert grad_input.dtype == np.float64 and layer.weight.grad.dtype == np.float64
    np.testing.assert_allclose(grad_input, to_numpy(x_t.grad), rtol=1e-10, atol=1e-13)
    for n, p in twin.named_parameters():
        np.testing.assert_allclose(dict(layer.named_parameters())[n].grad, to_numpy(p.grad), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("bad_grad, error", [
    (np.zeros((2, 3, 4, 4)), ValueError),  # the wrong shape
    (np.zeros((2, 3, 5, 5), dtype=np.complex128), TypeError),
    (np.zeros((2, 3, 5, 5)).tolist(), TypeError),
])
@pytest.mark.parametrize("name", ["Conv1d", "Conv2d"])
def test_a_refused_backward_changes_nothing_and_a_corrected_retry_works(name, bad_grad, error):
    """torch's retry after a refused backward works; manual's kept its forward and accumulated nothing."""
    layer = getattr(mnn, name)(2, 3, 3, padding=1, dtype="float64")
    reference = getattr(mnn, name)(2, 3, 3, padding=1, dtype="float64")
    reference.load_state_dict(layer.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5) if name == "Conv2d" else (2, 2, 5))
    grad = np.random.default_rng(1).standard_normal(reference(x).shape)
    bad = bad_grad if name == "Conv2d" else np.asarray(bad_grad)[..., 0]
    bad = np.asarray(bad).tolist() if isinstance(bad_grad, list) else bad
    expected = reference.backward(grad)
    layer(x)
    with pytest.raises(error, match=name):
        layer.backward(bad)
    assert layer.weight.grad is None and layer.bias.grad is None
    np.testing.assert_array_equal(layer.backward(grad), expected)
    np.testing.assert_array_equal(layer.weight.grad, reference.weight.grad)
    with pytest.raises(RuntimeError, match="without a matching forward"):  # a backward that ran consumed it
        layer.backward(grad)


@pytest.mark.parametrize("name, kwargs, shape, at", [
    ("Conv2d", dict(kernel_size=3, padding=1), (2, 2, 7, 7), (1, 0, 3, 4)),
    ("Conv2d", dict(kernel_size=(2, 3), stride=2, dilation=(2, 1), padding=(1, 2)), (1, 2, 9, 8), (0, 1, 3, 0)),
    ("Conv1d", dict(kernel_size=3, stride=2, padding=2, groups=2), (2, 2, 9), (1, 1, 5)),
])
def test_nan_stays_in_the_windows_that_read_it(name, kwargs, shape, at):
    layer = getattr(mnn, name)(2, 4, **kwargs, dtype="float64")
    twin = torch_twin(layer, name)
    x = np.random.default_rng(0).standard_normal(shape)
    x[at] = np.nan
    x_t = torch.from_numpy(x).requires_grad_(True)
    y_t = twin(x_t)
    y = layer(x)
    assert 0 < np.isnan(y).sum() < y.size
    np.testing.assert_array_equal(np.isnan(y), torch.isnan(y_t).numpy())
    np.testing.assert_allclose(y[~np.isnan(y)], to_numpy(y_t)[~np.isnan(y)], rtol=1e-10, atol=1e-13)
    grad = np.random.default_rng(1).standard_normal(y.shape)  # NaN in grad_output: the same windows, backwards
    grad[(0,) * grad.ndim] = np.nan
    x_t = torch.from_numpy(np.nan_to_num(x)).requires_grad_(True)
    twin(x_t).backward(torch.from_numpy(grad))
    layer(np.nan_to_num(x))
    grad_input = layer.backward(grad)
    assert 0 < np.isnan(grad_input).sum() < grad_input.size
    np.testing.assert_array_equal(np.isnan(grad_input), torch.isnan(x_t.grad).numpy())


STRIDE_ONE = [dict(kernel_size=3, padding=1), dict(kernel_size=(2, 4), padding="same", dilation=(2, 1), groups=2),
              dict(kernel_size=(3, 2), padding=(0, 3), bias=False), dict(kernel_size=(2, 3), padding=(1, 2), dilation=(1, 2))]


@pytest.mark.parametrize("kwargs", STRIDE_ONE)
@pytest.mark.parametrize("where", ["input", "weight"])
def test_a_non_finite_input_or_weight_reaches_only_the_gradients_torch_gives_it(kwargs, where):
    """Stride 1 goes by shifts of the flattened padded image (functional.conv_shifts), whose dropped columns
    multiply G's zeros by values outside every window; a NaN/inf input or weight must still reach only the
    gradients that torch gives it (the backward then reads the windows alone). The NaN sits in the last column,
    which a dropped column reads at kernel column 0."""
    layer = mnn.Conv2d(4, 6, **kwargs, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 7, 6))
    if where == "input":
        x[1, 2, 3, -1], x[0, 0, 0, 0] = np.nan, np.inf
    else:
        layer.weight.data[1, 0, 0, 0] = np.nan
    assert_matches_torch(layer, x)


@pytest.mark.parametrize("samples_per_chunk", [1, 2, 5])
@pytest.mark.parametrize("kwargs", STRIDE_ONE)
def test_the_shifted_buffers_reused_over_chunks_keep_the_padding_zeros(monkeypatch, samples_per_chunk, kwargs):
    """Stride 1: the padded image and the runs copied from it are reused chunk after chunk (conv_shifts.CHUNK_BYTES),
    a last partial chunk using their first samples: 5 samples by 1, 2 and 5, against torch in float64."""
    layer = mnn.Conv2d(4, 6, **kwargs, dtype="float64")
    x = np.random.default_rng(0).standard_normal((5, 4, 9, 8))
    out_size = layer._output_shape(x, True)[2:]
    grid = out_size[0] * (out_size[1] + layer.dilation[1] * (layer.kernel_size[1] - 1))  # Ho·Wp
    bytes_per_sample = 8 * (4 * int(np.prod(layer.kernel_size)) + layer.groups) * grid
    monkeypatch.setattr(conv_shifts, "CHUNK_BYTES", samples_per_chunk * bytes_per_sample)
    assert conv_shifts._chunks(len(x), bytes_per_sample)[0] == samples_per_chunk
    assert_matches_torch(layer, x)


@pytest.mark.parametrize("kwargs", [dict(stride=0), dict(stride=(1, -1)), dict(dilation=0), dict(dilation=(-1, 1))])
def test_the_functional_form_refuses_non_positive_strides_and_dilations(kwargs):
    x, weight = np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d: .* must be positive"):
        F.conv2d(x, weight, **kwargs)
    with pytest.raises(ValueError, match="conv2d: .* must be positive"):
        F.conv2d_backward(np.zeros((1, 3, 4, 4)), x, weight, **kwargs)


@pytest.mark.parametrize("samples_per_chunk", [1, 2, 5])
@pytest.mark.parametrize("kwargs", [dict(padding=2, dilation=2, stride=(2, 1), groups=2),
                                    dict(padding=(0, 3), stride=3, bias=False)])
def test_the_im2col_buffer_reused_over_chunks_keeps_the_padding_zeros(monkeypatch, samples_per_chunk, kwargs):
    """The batch goes through the im2col buffer in chunks (conv_shifts.CHUNK_BYTES, for both ways); the padding's zeros are written once, at
    its allocation, and a last partial chunk uses the buffer's first samples: 5 samples by 1, 2 (a partial last
    chunk) and 5, against torch in float64."""
    layer = mnn.Conv2d(4, 6, 3, **kwargs, dtype="float64")
    x = np.random.default_rng(0).standard_normal((5, 4, 9, 8))
    bytes_per_sample = 8 * (4 // layer.groups * 9 + (layer.bias is not None)) * layer.groups * int(
        np.prod(layer._output_shape(x, True)[2:]))
    monkeypatch.setattr(conv_shifts, "CHUNK_BYTES", samples_per_chunk * bytes_per_sample)
    assert conv_shifts.samples_per_chunk(len(x), bytes_per_sample) == samples_per_chunk
    assert_matches_torch(layer, x)
