"""Saving and loading lose nothing: manual -> .npz -> manual and manual -> torch -> .pt -> torch -> manual are
bit-identical (dtype, shape, bytes, key order), special values included."""
import numpy as np
import pytest
import torch

import manual
import manual.models
import manual.nn as mnn
import torch_ref.models
from compare import convert

MODELS = [
    ("LinearRegression", {"in_features": 5, "out_features": 2}),
    ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
    ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": "tanh"}),
    ("Perceptron", {"in_features": 3}),
]
PARAMS = [pytest.param(name, kwargs, dtype, id=f"{name}-{dtype}") for name, kwargs in MODELS
          for dtype in ("float32", "float64")]


class WithBuffers(mnn.Module):
    """A parameter with special values, and buffers of other dtypes (an int64 0-d counter, as BatchNorm's)."""

    def __init__(self):
        super().__init__()
        self.weight = mnn.Parameter(np.array([-0.0, np.nan, np.inf, -np.inf, 5e-324, 1.0 / 3.0]))
        self.register_buffer("count", np.array(7, dtype=np.int64))
        self.register_buffer("running", np.array([1.5, -2.25], dtype=np.float32))
        self.register_buffer("scratch", np.zeros(2), persistent=False)


def assert_bit_identical(actual, expected):
    assert list(actual) == list(expected), "keys or their order differ"
    for key, value in expected.items():
        got = np.asarray(actual[key])
        assert (got.dtype, got.shape) == (value.dtype, value.shape), key
        assert got.tobytes() == value.tobytes(), f"{key}: bytes differ"


def manual_model(name, kwargs, dtype, seed):
    manual.manual_seed(seed)
    return getattr(manual.models, name)(**kwargs, dtype=dtype)


@pytest.mark.parametrize("name, kwargs, dtype", PARAMS)
def test_npz_round_trip_is_bit_identical(tmp_path, name, kwargs, dtype):
    original = manual_model(name, kwargs, dtype, seed=1)
    manual.save(original, tmp_path / "model.weights")  # written to exactly this path, no ".npz" appended
    restored = manual.load(manual_model(name, kwargs, dtype, seed=2), tmp_path / "model.weights")
    assert_bit_identical(restored.state_dict(), original.state_dict())


@pytest.mark.parametrize("name, kwargs, dtype", PARAMS)
def test_manual_torch_pt_round_trip_is_bit_identical(tmp_path, name, kwargs, dtype):
    original = manual_model(name, kwargs, dtype, seed=1)
    torch_model = convert.manual_to_torch(original, getattr(torch_ref.models, name)(**kwargs,
                                                                                    dtype=getattr(torch, dtype)))
    torch.save(torch_model.state_dict(), tmp_path / "model.pt")
    fresh_torch = getattr(torch_ref.models, name)(**kwargs, dtype=getattr(torch, dtype))
    fresh_torch.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    restored = convert.torch_to_manual(fresh_torch, manual_model(name, kwargs, dtype, seed=2))
    assert_bit_identical(restored.state_dict(), original.state_dict())
    x = np.random.default_rng(0).standard_normal((4, kwargs["in_features"])).astype(dtype)
    np.testing.assert_array_equal(restored(x), original(x))


def test_special_values_and_buffer_dtypes_survive_every_route(tmp_path):
    original = WithBuffers()
    routes = {
        "npz": lambda m: (manual.save(original, tmp_path / "a.npz"), manual.load(m, tmp_path / "a.npz")),
        "pt": lambda m: (convert.save_pt(original, tmp_path / "a.pt"), convert.load_pt(m, tmp_path / "a.pt")),
        "npz->pt->npz": lambda m: (manual.save(original, tmp_path / "b.npz"),
                                   convert.npz_to_pt(tmp_path / "b.npz", tmp_path / "b.pt"),
                                   convert.pt_to_npz(tmp_path / "b.pt", tmp_path / "c.npz"),
                                   manual.load(m, tmp_path / "c.npz")),
        "torch state_dict": lambda m: m.load_state_dict(convert.to_numpy_state_dict(
            convert.to_torch_state_dict(original.state_dict()))),
    }
    for route, run in routes.items():
        restored = WithBuffers()
        restored.weight.data[...] = 0.0
        restored.count[...] = 0
        run(restored)
        assert "scratch" not in restored.state_dict()
        assert_bit_identical(restored.state_dict(), original.state_dict())
        assert np.signbit(restored.weight.data[0]), route  # -0.0 stays negative zero


def test_loading_a_mismatched_archive_names_the_problem(tmp_path):
    manual.save(manual.models.MLP(4, [6], 3), tmp_path / "mlp.npz")
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        manual.load(manual.models.MLP(5, [6], 3), tmp_path / "mlp.npz")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "4\.weight"'):
        manual.load(manual.models.MLP(4, [6, 6], 3), tmp_path / "mlp.npz")
    convert.save_pt(manual.models.MLP(4, [6], 3), tmp_path / "mlp.pt")
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "0\.weight"'):
        convert.load_pt(manual.models.LinearRegression(4, 3), tmp_path / "mlp.pt")
