"""Issue 20's edges of pooling, normalization and embedding, against torch 2.13 (the oracle of every case).

- `EDGES`: constructor arguments and input shapes at the edge (zero-sized dims, bad kernel/stride/padding/dilation,
  output sizes, divisors, normalized shapes). Where torch refuses, manual refuses too, at the same stage or earlier
  (construction before forward before backward), with a message naming the layer; where torch accepts, the
  outputs and gradients agree.
- an integer grad_output is cast to the input's dtype, as torch's autograd casts it (every layer of the families);
- a NaN/inf in AdaptiveAvgPool2d's input (forward) or grad_output (backward) reaches only the windows holding it;
- MaxPool2d(return_indices=True) returns torch's indices and routes the gradient through them.
"""
import inspect

import numpy as np
import pytest
import torch

import manual.nn as mnn
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import tolerance_for

STAGES = ("construction", "forward", "backward", "accepted")


def build(side, name, args, kwargs):
    if side is torch.nn:
        return getattr(torch.nn, name)(*args, **kwargs).double()
    cls = getattr(mnn, name)
    return cls(*args, **kwargs, **({"dtype": "float64"} if "dtype" in inspect.signature(cls).parameters else {}))


def run(side, name, args, kwargs, x, training, grad_dtype=np.float64):
    """(stage reached: the first that raised, or "accepted"; the error; output; dL/dx; parameter grads)."""
    try:
        module = build(side, name, args, kwargs)
    except Exception as error:  # noqa: BLE001 - the stage is the result
        return "construction", error, None, None, {}
    module.train(training)
    if side is torch.nn and x.dtype.kind == "f":
        x_in = torch.from_numpy(x.copy()).requires_grad_(True)
    else:
        x_in = torch.from_numpy(x.copy()) if side is torch.nn else x.copy()
    try:
        y = module(x_in)
    except Exception as error:  # noqa: BLE001
        return "forward", error, None, None, {}
    y0 = y[0] if isinstance(y, tuple) else y
    grad = np.random.default_rng(1).standard_normal(tuple(y0.shape)).astype(grad_dtype)
    try:
        if side is torch.nn:
            y0.backward(torch.from_numpy(grad))
            grad_input = None if x_in.grad is None else x_in.grad.numpy()
            grads = {n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}
            return "accepted", None, y0.detach().numpy(), grad_input, grads
        grad_input = module.backward(grad)
    except Exception as error:  # noqa: BLE001
        return "backward", error, None, None, {}
    return "accepted", None, y0, grad_input, {n: p.grad for n, p in module.named_parameters() if p.grad is not None}


def case(name, args=(), kwargs=None, shape=(2, 3, 4, 4), training=True, index_input=False):
    kwargs = kwargs or {}
    return pytest.param(name, args, kwargs, shape, training, index_input,
                        id=f"{name}{args}{kwargs}-{shape}-{'train' if training else 'eval'}")


EDGES = [
    # issue 20: accepted where torch refuses
    case("MaxPool2d", (2,), {"dilation": 0}), case("MaxPool2d", (2,), {"dilation": -1}),
    case("MaxPool2d", (2,), {"dilation": (1, 1, 1)}), case("MaxPool2d", (2,), {"dilation": 1.0}),
    case("AdaptiveAvgPool2d", ((2, 3, 4),)), case("AdaptiveAvgPool2d", ((2,),)), case("AdaptiveAvgPool2d", (2.0,)),
    case("AdaptiveAvgPool2d", (-1,)), case("AdaptiveAvgPool2d", ((2, True),)), case("MaxPool2d", ((2, True),)),
    case("LayerNorm", ([],), shape=(2, 3)), case("LayerNorm", ((),), {"elementwise_affine": False}, shape=(2, 3)),
    case("LayerNorm", (2.0,), shape=(2, 2)), case("LayerNorm", (-1,), shape=(2, 2)),
    case("AvgPool2d", (2,), {"divisor_override": 1.5}), case("AvgPool2d", (2,), {"divisor_override": 0}),
    case("AvgPool2d", (2,), {"divisor_override": True}),
    *[case(pool, args, kwargs) for pool in ("MaxPool2d", "AvgPool2d") for args, kwargs in [
        ((0,), {}), ((-1,), {}), ((2.0,), {}), (((2, 2, 2),), {}), ((True,), {}), ((2,), {"stride": 0}),
        ((2,), {"stride": -1}), ((2,), {"stride": 1.0}), ((2,), {"stride": (1, 1, 1)}), ((2,), {"padding": -1}),
        ((2,), {"padding": (1, 1, 1)}), ((2,), {"padding": 1.0}), ((3,), {"padding": 2})]],
    # zero-sized dims: torch refuses an empty C/H/W for max and avg pooling, an empty H/W for adaptive pooling,
    # whose backward also refuses an empty C or output size
    *[case(pool, args, shape=shape) for pool, args in [("MaxPool2d", (2,)), ("AvgPool2d", (2,)),
                                                       ("AdaptiveAvgPool2d", (2,))]
      for shape in [(0, 3, 4, 4), (2, 0, 4, 4), (0, 0, 4, 4), (0, 4, 4), (2, 3, 0, 4), (3, 4, 0)]],
    case("AdaptiveAvgPool2d", (0,)), case("AdaptiveAvgPool2d", ((0, 2),)), case("AdaptiveAvgPool2d", ((None, 0),)),
    case("MaxPool2d", (2,), {"return_indices": True}, shape=(0, 3, 4, 4)),
    # accepted as torch accepts them
    case("AvgPool2d", (2,), {"divisor_override": -1}), case("AvgPool2d", (np.int64(2),)),
    case("MaxPool2d", ((2,),), {"stride": []}), case("AvgPool2d", ((2, 3),), {"stride": (1,)}),
    case("AvgPool2d", (2,), {"stride": ()}), case("AdaptiveAvgPool2d", ([2, None],)),
    case("AdaptiveAvgPool2d", ((5, 3),), shape=(2, 3, 4, 7)),
    # zero batch (and other empty dims) of the norms; one value per channel in training is refused
    *[case(norm, (3,), shape=shape, training=training) for norm, shape in [
        ("BatchNorm1d", (0, 3)), ("BatchNorm1d", (0, 3, 5)), ("BatchNorm1d", (2, 3, 0)), ("BatchNorm1d", (1, 3)),
        ("BatchNorm1d", (1, 3, 1)), ("BatchNorm2d", (0, 3, 2, 2)), ("BatchNorm2d", (2, 3, 0, 2)),
        ("BatchNorm2d", (1, 3, 1, 1))] for training in (True, False)],
    case("BatchNorm1d", (3,), {"track_running_stats": False}, shape=(1, 3), training=False),
    case("LayerNorm", (4,), shape=(0, 4)), case("LayerNorm", (4,), shape=(2, 0, 4)),
    case("LayerNorm", ([0],), shape=(2, 0)), case("LayerNorm", ((0, 2),), shape=(3, 0, 2)),
    # Embedding: empty index arrays, empty tables
    case("Embedding", (5, 3), shape=(0,), index_input=True), case("Embedding", (5, 3), shape=(2, 0), index_input=True),
    case("Embedding", (5, 0), shape=(2, 3), index_input=True),
    case("Embedding", (5, 3), {"padding_idx": 1, "max_norm": 1.0, "scale_grad_by_freq": True}, shape=(0,),
         index_input=True),
    case("Embedding", (-1, 3), shape=(2,), index_input=True),
]


def make_input(shape, index_input, name, args):
    rng = np.random.default_rng(0)
    if index_input:
        return rng.integers(0, max(args[0], 1), shape).astype(np.int64)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name, args, kwargs, shape, training, index_input", EDGES)
def test_edge_is_refused_or_accepted_as_torch(name, args, kwargs, shape, training, index_input):
    x = make_input(shape, index_input, name, args)
    t_stage, t_error, t_out, t_grad, t_params = run(torch.nn, name, args, kwargs, x, training)
    m_stage, m_error, m_out, m_grad, m_params = run(mnn, name, args, kwargs, x, training)
    assert (m_stage == "accepted") == (t_stage == "accepted"), \
        f"torch: {t_stage} ({t_error!r}), manual: {m_stage} ({m_error!r})"
    assert STAGES.index(m_stage) <= STAGES.index(t_stage), f"torch refuses at {t_stage}, manual at {m_stage}"
    if m_error is not None:
        assert name in str(m_error), f"the message names the layer: {m_error!r}"
        return
    tolerance = tolerance_for("float64")
    pairs = [("output", m_out, t_out)] + ([("grad.input", m_grad, t_grad)] if t_grad is not None else [])
    pairs += [(f"grad.{n}", m_params.get(n), g) for n, g in t_params.items()]
    failing = [c.describe() for c in (compare_arrays(0, *pair, tolerance) for pair in pairs) if not c.passed]
    assert not failing


INT_GRAD = [case("MaxPool2d", (2,), shape=(1, 2, 4, 4)), case("AvgPool2d", (2,), {"padding": 1}, shape=(1, 2, 4, 4)),
            case("AdaptiveAvgPool2d", (2,), shape=(1, 2, 4, 4)), case("AdaptiveAvgPool2d", ((3, 2),), shape=(2, 5, 3)),
            case("BatchNorm1d", (3,), shape=(4, 3)), case("BatchNorm2d", (3,), shape=(2, 3, 2, 2)),
            case("BatchNorm2d", (3,), shape=(2, 3, 2, 2), training=False), case("LayerNorm", ((2, 2),), shape=(3, 2, 2)),
            case("Embedding", (5, 3), {"scale_grad_by_freq": True}, shape=(4,), index_input=True),
            case("ReLU", (), shape=(4, 3)), case("Tanh", (), shape=(4, 3)),
            case("Softmax", (1,), shape=(4, 3)), case("Identity", (), shape=(4, 3)), case("Flatten", (), shape=(2, 3, 2)),
            case("Dropout", (0.5,), shape=(4, 3), training=False)]


@pytest.mark.parametrize("name, args, kwargs, shape, training, index_input", INT_GRAD)
def test_an_integer_grad_output_is_cast_to_the_input_dtype_as_torch(name, args, kwargs, shape, training, index_input):
    """issue 20: AdaptiveAvgPool2d gave an all-zero int64 gradient, MaxPool2d the grad's dtype, AvgPool2d a bare
    UFuncTypeError; the parametric layers refused the int64 parameter gradient."""
    x = make_input(shape, index_input, name, args)
    t_stage, _, _, t_grad, t_params = run(torch.nn, name, args, kwargs, x, training, grad_dtype=np.int64)
    m_stage, m_error, _, m_grad, m_params = run(mnn, name, args, kwargs, x, training, grad_dtype=np.int64)
    assert t_stage == m_stage == "accepted", m_error
    tolerance = tolerance_for("float64")
    pairs = [("grad.input", m_grad, t_grad)] if t_grad is not None else []
    pairs += [(f"grad.{n}", m_params[n], g) for n, g in t_params.items()]
    for label, m_value, t_value in pairs:
        assert m_value.dtype == np.float64, f"{label}: {m_value.dtype}"
        assert compare_arrays(0, label, m_value, t_value, tolerance).passed, label


def test_a_complex_grad_output_is_refused_naming_the_layer():
    pool = mnn.AvgPool2d(2)
    pool(np.ones((1, 1, 2, 2)))
    with pytest.raises(TypeError, match=r"AvgPool2d.*real grad_output.*complex128"):
        pool.backward(np.ones((1, 1, 1, 1), dtype=complex))


@pytest.mark.parametrize("where", ["input", "grad_output"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("in_shape, output_size", [((4, 4), 2), ((5, 7), (3, 4)), ((3, 3), 5), ((6, 2), (4, None))])
def test_adaptive_avg_pool_keeps_a_non_finite_value_in_its_windows(where, value, in_shape, output_size):
    """issue 20: y = A_h x A_wᵀ spread 0·NaN over the whole (n, c) plane; torch affects only the windows holding it."""
    x = np.arange(2.0 * np.prod(in_shape)).reshape((1, 2) + in_shape)
    if where == "input":
        x[0, 1, 1, 0] = value
    pool, t_x = mnn.AdaptiveAvgPool2d(output_size), torch.from_numpy(x.copy()).requires_grad_(True)
    t_y = torch.nn.AdaptiveAvgPool2d(output_size)(t_x)
    grad = np.ones(tuple(t_y.shape))
    if where == "grad_output":
        grad[0, 1, -1, 0] = value
    t_y.backward(torch.from_numpy(grad))
    y, grad_input = pool(x), None
    grad_input = pool.backward(grad)
    tolerance = tolerance_for("float64")
    for label, m_value, t_value in [("output", y, t_y.detach().numpy()), ("grad", grad_input, t_x.grad.numpy())]:
        assert np.isfinite(t_value).any()  # the case's point: torch keeps finite values beside the bad one
        assert compare_arrays(0, label, m_value, t_value, tolerance).passed, f"{label}: {m_value} vs {t_value}"


RETURN_INDICES = [((2,), {}), ((3,), {"stride": 1, "padding": 1}), ((2,), {"stride": 1, "padding": 1, "dilation": 2}),
                  (((2, 3),), {"stride": (2, 1), "ceil_mode": True}), ((3,), {"stride": 2, "padding": 1,
                                                                             "ceil_mode": True})]


@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (3, 4, 4)])
@pytest.mark.parametrize("args, kwargs", RETURN_INDICES, ids=str)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_return_indices_are_torchs(args, kwargs, shape, ties):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    t_x = torch.from_numpy(x.copy()).requires_grad_(True)
    t_y, t_indices = torch.nn.MaxPool2d(*args, **kwargs, return_indices=True)(t_x)
    pool = mnn.MaxPool2d(*args, **kwargs, return_indices=True)
    y, indices = pool(x)
    assert indices.dtype == np.int64 and indices.shape == y.shape
    np.testing.assert_array_equal(indices, t_indices.numpy())
    grad = rng.standard_normal(y.shape)
    t_y.backward(torch.from_numpy(grad))
    grad_input = pool.backward(grad)
    assert compare_arrays(0, "grad.input", grad_input, t_x.grad.numpy(), tolerance_for("float64")).passed
    # the gradient goes exactly where the indices point: per (n, c) plane, G added at the flat indices
    planes, (height, width) = int(np.prod(x.shape[:-2])), x.shape[-2:]
    routed = np.zeros((planes, height * width))
    np.add.at(routed, (np.arange(planes)[:, None], indices.reshape(planes, -1)), grad.reshape(planes, -1))
    assert compare_arrays(0, "routed", grad_input, routed.reshape(x.shape), tolerance_for("float64")).passed


@pytest.mark.parametrize("name, kwargs", [("HuberLoss", {"delta": 1j}), ("HuberLoss", {"delta": "1"}),
                                          ("SmoothL1Loss", {"beta": "1"})])
def test_a_loss_parameter_that_is_no_real_number_is_refused_naming_the_loss(name, kwargs):
    with pytest.raises(TypeError):  # torch refuses it (in its constructor or first forward)
        getattr(torch.nn, name)(**kwargs)(torch.ones(2), torch.zeros(2))
    with pytest.raises(TypeError, match=f"{name}: .* must be a float or int"):
        getattr(mnn, name)(**kwargs)


EMBEDDING_OPTIONS = [{"max_norm": 0.0}, {"max_norm": -1.0}, {"max_norm": 1.0, "norm_type": np.inf},
                     {"max_norm": 1.0, "norm_type": 0.0}, {"max_norm": 1.0, "norm_type": -1.0},
                     {"max_norm": 1.0, "norm_type": 0.5}, {"padding_idx": 1, "max_norm": 0.5},
                     {"padding_idx": -4, "scale_grad_by_freq": True},
                     {"padding_idx": 1, "max_norm": 2.0, "scale_grad_by_freq": True}]


@pytest.mark.parametrize("options", EMBEDDING_OPTIONS, ids=str)
def test_embedding_options_at_their_edges_match_torch(options):
    """max_norm 0 or negative, odd norm types, padding_idx with max_norm or scale_grad_by_freq: the renormalised
    table (in place, duplicates once) and the gradient (padding row none, scaled by frequency) as torch's."""
    weight = 2 * np.random.default_rng(0).standard_normal((5, 3))
    index = np.array([[0, 1, 1], [4, 2, 1]])
    t_module = torch.nn.Embedding(5, 3, _weight=torch.from_numpy(weight.copy()), **options)
    m_module = mnn.Embedding(5, 3, _weight=weight.copy(), dtype="float64", **options)
    grad = np.random.default_rng(1).standard_normal((2, 3, 3))
    t_out = t_module(torch.from_numpy(index))
    t_out.backward(torch.from_numpy(grad))
    m_out = m_module(index)
    m_module.backward(grad)
    tolerance = tolerance_for("float64")
    for label, m_value, t_value in [("output", m_out, t_out.detach().numpy()),
                                    ("weight", m_module.weight.data, t_module.weight.detach().numpy()),
                                    ("grad.weight", m_module.weight.grad, t_module.weight.grad.numpy())]:
        assert compare_arrays(0, label, m_value, t_value, tolerance).passed, label


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss",
                                  "NLLLoss", "CrossEntropyLoss"])
def test_a_loss_of_an_empty_batch_is_torchs_without_warnings(name):
    """'mean' of nothing is NaN, as torch; its gradient is empty (no division by the zero count, no warning)."""
    target = np.zeros(0, dtype=np.int64) if "Entropy" in name or "NLL" in name else np.zeros((0, 3))
    t_input = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    t_loss = getattr(torch.nn, name)()(t_input, torch.from_numpy(target))
    t_loss.backward()
    loss = getattr(mnn, name)()
    with np.errstate(all="raise"):
        value = loss(np.zeros((0, 3)), target)
        grad = loss.backward()
    assert np.isnan(value) and np.isnan(t_loss.item())
    assert grad.shape == tuple(t_input.grad.shape) == (0, 3)


@pytest.mark.parametrize("in_shape, output_size", [((4, 4), 2), ((5, 7), (3, 4)), ((3, 3), 5), ((6, 2), (4, None)),
                                                   ((7, 1), (3, 2)), ((1, 9), 4)])
@pytest.mark.parametrize("by_windows", [False, True])
def test_adaptive_avg_pool_both_ways_match_torch(in_shape, output_size, by_windows):
    """The products (finite values) and the window-by-window sums (taken when a value is not finite) are the same
    map: each, forced, agrees with torch on finite values, so the NaN path is checked beyond its NaN."""
    from manual.nn.functional.pooling import adaptive_avg_pool2d, adaptive_avg_pool2d_backward
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3) + in_shape)
    t_x = torch.from_numpy(x.copy()).requires_grad_(True)
    t_y = torch.nn.functional.adaptive_avg_pool2d(t_x, output_size)
    grad = rng.standard_normal(tuple(t_y.shape))
    t_y.backward(torch.from_numpy(grad))
    tolerance = tolerance_for("float64")
    y = adaptive_avg_pool2d(x, output_size, by_windows=by_windows)
    grad_input = adaptive_avg_pool2d_backward(grad, x.shape, output_size, by_windows=by_windows)
    assert compare_arrays(0, "output", y, t_y.detach().numpy(), tolerance).passed
    assert compare_arrays(0, "grad.input", grad_input, t_x.grad.numpy(), tolerance).passed


RETRIED = [("MaxPool2d", (2,), (2, 3, 4, 4)), ("AvgPool2d", (2,), (2, 3, 4, 4)),
           ("AdaptiveAvgPool2d", ((3, 2),), (2, 3, 5, 4)), ("AdaptiveAvgPool2d", (2,), (2, 0, 4, 4)),
           ("BatchNorm1d", (3,), (4, 3)), ("BatchNorm2d", (3,), (2, 3, 2, 2)), ("LayerNorm", (4,), (2, 4)),
           ("Embedding", (5, 3), (2, 4)), ("MSELoss", (), (3, 2)), ("NLLLoss", (), (3, 4)),
           ("CrossEntropyLoss", (), (3, 4))]


@pytest.mark.parametrize("name, args, shape", RETRIED, ids=lambda v: str(v))
def test_a_refused_backward_changes_nothing_and_a_corrected_retry_works(name, args, shape):
    """issue 20: a refused backward consumed the forward's saved state ("backward called without a matching
    forward" on the retry); torch's retry works. Nothing may be accumulated into .grad by the refused call."""
    rng = np.random.default_rng(0)
    module = build(mnn, name, args, {})
    if name == "Embedding":
        arguments = (rng.integers(0, 5, shape),)
    elif name.endswith("Loss"):
        target = rng.integers(0, shape[1], shape[0]) if name != "MSELoss" else rng.standard_normal(shape)
        arguments = (rng.standard_normal(shape), target)
    else:
        arguments = (rng.standard_normal(shape),)
    output = module(*arguments)
    wrong = np.ones(np.shape(output) + (2,))
    with pytest.raises(ValueError, match=name):
        module.backward(wrong)
    assert all(p.grad is None for p in module.parameters())
    if 0 in np.shape(output)[1:]:  # AdaptiveAvgPool2d of no channels: torch refuses every backward
        with pytest.raises(ValueError, match=name):
            module.backward(np.ones(np.shape(output)))
        return
    grad = np.ones(np.shape(output))
    retried = module.backward(grad)
    reference = build(mnn, name, args, {})
    reference.load_state_dict(module.state_dict())  # Embedding's table (training BatchNorm ignores its buffers)
    reference(*arguments)
    expected = reference.backward(grad)
    if expected is not None:
        np.testing.assert_array_equal(retried, expected)
    for (label, param), (_, expected_param) in zip(module.named_parameters(), reference.named_parameters(),
                                                   strict=True):
        np.testing.assert_array_equal(param.grad, expected_param.grad, err_msg=label)


@pytest.mark.parametrize("name, args, shape", [("BatchNorm1d", (3,), (4, 3)), ("BatchNorm2d", (3,), (2, 3, 2, 2)),
                                               ("LayerNorm", (4,), (2, 4)), ("AvgPool2d", (2,), (1, 2, 4, 4)),
                                               ("Embedding", (5, 3), (4,)), ("Linear", (3, 2), (4, 3)),
                                               ("ReLU", (), (4, 3)), ("Softmax", (1,), (4, 3)), ("Identity", (), (4, 3)),
                                               ("Flatten", (), (2, 3, 2)), ("Maxout", (3, 2, 2), (4, 3))])
@pytest.mark.parametrize("grad_dtype", [np.int64, np.float64])
def test_a_float32_layer_casts_its_grad_output_to_float32(name, args, shape, grad_dtype):
    """The norms compute in float64 inside: the cast goes to the input's dtype, not to what they saved."""
    cls = getattr(mnn, name)
    module = cls(*args, **({"dtype": "float32"} if "dtype" in inspect.signature(cls).parameters else {}))
    x = np.arange(np.prod(shape)).reshape(shape) % 5 if name == "Embedding" else \
        np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = module(x)
    grad_input = module.backward(np.ones(y.shape, dtype=grad_dtype))
    assert grad_input is None or grad_input.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in module.parameters())


TILED_INPUTS = {  # ties, two NaNs in one window, windows of -inf only
    "ties": lambda rng, shape: rng.integers(0, 3, shape).astype(np.float64),
    "two-nans-in-a-window": lambda rng, shape: np.where(rng.random(shape) < 0.3, np.nan, rng.standard_normal(shape)),
    "minus-inf-windows": lambda rng, shape: np.where(rng.random(shape) < 0.6, -np.inf, rng.standard_normal(shape)),
}


@pytest.mark.parametrize("kernel, shape", [(2, (2, 3, 4, 6)), (2, (2, 3, 5, 7)), (3, (1, 2, 6, 9)), ((2, 3), (1, 2, 4, 7))],
                         ids=["k2-exact", "k2-remainder-cropped", "k3", "k2x3"])
@pytest.mark.parametrize("values", TILED_INPUTS)
def test_max_pool_over_tiling_windows_matches_torch(kernel, shape, values):
    """kernel = stride, no padding (the common k = s = 2, with an odd remainder left out): the maximum, torch's
    indices (the first of equal maxima, the last of several NaNs) and the gradient routed through them."""
    x = TILED_INPUTS[values](np.random.default_rng(0), shape)
    grad = np.random.default_rng(1).standard_normal(mnn.MaxPool2d(kernel)(x).shape)
    pool = mnn.MaxPool2d(kernel, return_indices=True)
    y, indices = pool(x)
    grad_input = pool.backward(grad)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    y_torch, indices_torch = torch.nn.MaxPool2d(kernel, return_indices=True)(x_torch)
    y_torch.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(y, y_torch.detach().numpy())
    np.testing.assert_array_equal(indices, indices_torch.numpy())
    np.testing.assert_array_equal(grad_input, x_torch.grad.numpy())
