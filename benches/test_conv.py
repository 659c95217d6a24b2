"""Conv2d forward + backward at the `cnn` bench size's two conv layers: manual vs torch CPU (issue 19).

`python -m pytest benches/test_conv.py`. One benchmark group per layer and dtype, manual and torch-cpu side by
side. The layers are those of `compare.bench.sizes.SIZES["cnn"]` (`manual.models.CNN`: Conv2d(c_in, c, k,
padding=k//2) on the batch, the next one on the pooled half-size maps); the first reads data, so neither side
computes its dL/d(input), as in the training step. Before timing, manual's output and gradients are checked
against torch's in float64 (rtol 1e-10, atol 1e-13) on the same weights and batch. Threads: benches/conftest.py.
"""
import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.bench import sizes

DTYPES = ("float32", "float64")
ROUNDS, WARMUP = 20, 2


def cnn_conv_layers():
    """(name, in_channels, out_channels, kernel_size, input shape, input needs a gradient) per conv of `cnn`."""
    size = sizes.SIZES["cnn"]
    (channels, side, _), k = size.image, size.kernel_size
    layers = []
    for index, out_channels in enumerate(size.channels):
        layers.append((f"conv{index}-{channels}to{out_channels}-{side}px", channels, out_channels, k,
                       (size.batch, channels, side, side), index > 0))
        channels, side = out_channels, (side + 2 * (k // 2) - k + 1) // 2
    return layers


LAYERS = cnn_conv_layers()


def twins(layer, dtype):
    """(manual Conv2d, torch Conv2d with the same weights, input, grad_output) for one layer."""
    _, c_in, c_out, k, shape, input_grad = layer
    manual_layer = mnn.Conv2d(c_in, c_out, k, padding=k // 2, dtype=dtype)
    manual_layer.needs_input_grad = input_grad
    torch_layer = torch.nn.Conv2d(c_in, c_out, k, padding=k // 2).to(getattr(torch, dtype))
    manual_layer.load_state_dict({key: value.detach().numpy() for key, value in torch_layer.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    return manual_layer, torch_layer, x, rng.standard_normal((shape[0], c_out, *shape[2:])).astype(dtype)


def manual_step(layer, x, grad):
    layer.zero_grad()
    layer(x)
    return layer.backward(grad)


def torch_step(layer, x_t, grad_t):
    layer.zero_grad()
    layer(x_t).backward(grad_t)
    return x_t.grad


@pytest.fixture(scope="module", params=LAYERS, ids=[layer[0] for layer in LAYERS])
def agreed_layer(request):
    """The layer, after manual and torch agreed on it in float64."""
    manual_layer, torch_layer, x, grad = twins(request.param, "float64")
    x_t = torch.from_numpy(x).requires_grad_(request.param[5])
    grad_input, torch_grad_input = manual_step(manual_layer, x, grad), torch_step(torch_layer, x_t, torch.from_numpy(grad))
    assert (grad_input is None) == (torch_grad_input is None)
    pairs = [(manual_layer(x), torch_layer(x_t).detach().numpy())]
    pairs += [(getattr(manual_layer, n).grad, p.grad.numpy()) for n, p in torch_layer.named_parameters()]
    pairs += [] if grad_input is None else [(grad_input, torch_grad_input.numpy())]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)
    return request.param


@pytest.mark.parametrize("backend", ["manual", "torch-cpu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward(benchmark, agreed_layer, dtype, backend):
    benchmark.group = f"conv forward+backward {agreed_layer[0]} {dtype}"
    manual_layer, torch_layer, x, grad = twins(agreed_layer, dtype)
    if backend == "manual":
        def step():
            return manual_step(manual_layer, x, grad)
    else:
        x_t, grad_t = torch.from_numpy(x).requires_grad_(agreed_layer[5]), torch.from_numpy(grad)

        def step():
            if x_t.grad is not None:
                x_t.grad = None
            return torch_step(torch_layer, x_t, grad_t)
    benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP)
