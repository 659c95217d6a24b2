"""BatchNorm2d, LayerNorm and Embedding beyond the module catalogue (compare/catalogue/module_cases.py NORM_CASES, checked
by tests/checks/test_modules.py): construction as torch (state_dict keys, shapes, init, repr), several training steps,
Embedding's accumulation and in-place renorm, and the calls both refuse."""
import numpy as np
import pytest
import torch

import manual.models
import manual.nn as mnn
import torch_ref.models
from compare.checks.inspection import assert_same_summary
from compare.engine.comparison import compare_arrays
from compare.engine.tolerances import GRADCHECK_TOLERANCE, tolerance_for
from compare.engine.twins import TORCH_DTYPES, to_numpy
from compare.realdata.peer import peer_metrics
from compare.realdata.training import Recipe
from manual import gradcheck, random

CONSTRUCTORS = [
    ("BatchNorm2d", (3,), {}), ("BatchNorm2d", (3,), {"momentum": None, "affine": False}),
    ("BatchNorm2d", (4,), {"track_running_stats": False, "eps": 1e-3}), ("BatchNorm2d", (2,), {"bias": False}),
    ("BatchNorm1d", (3,), {"bias": False}),
    ("LayerNorm", (5,), {}), ("LayerNorm", ((2, 3),), {"eps": 1e-3}), ("LayerNorm", ([4],), {"bias": False}),
    ("LayerNorm", ((2, 3),), {"elementwise_affine": False}),
    ("Embedding", (6, 3), {}), ("Embedding", (6, 3), {"padding_idx": -2}),
    ("Embedding", (5, 2), {"padding_idx": 0, "max_norm": 1.0, "norm_type": 1.0, "scale_grad_by_freq": True}),
]


@pytest.mark.parametrize("name,args,kwargs", CONSTRUCTORS, ids=lambda v: str(v))
def test_construction_matches_torch(name, args, kwargs):
    """Same repr, state_dict keys (in order), shapes, dtypes, and the deterministic part of the init."""
    torch_module, manual_module = getattr(torch.nn, name)(*args, **kwargs), getattr(mnn, name)(*args, **kwargs)
    assert repr(manual_module) == repr(torch_module)
    t_state, m_state = to_numpy(torch_module.state_dict()), manual_module.state_dict()
    assert list(m_state) == list(t_state)
    for key, value in t_state.items():
        assert (m_state[key].shape, m_state[key].dtype) == (value.shape, value.dtype), key
        if name != "Embedding":  # ones, zeros, running statistics, num_batches_tracked 0
            np.testing.assert_array_equal(m_state[key], value, err_msg=key)
    assert [n for n, _ in manual_module.named_buffers()] == [n for n, _ in torch_module.named_buffers()]
    if name == "Embedding" and "padding_idx" in kwargs:
        assert manual_module.padding_idx == torch_module.padding_idx
        np.testing.assert_array_equal(m_state["weight"][manual_module.padding_idx], 0)


def test_embedding_init_is_standard_normal():
    random.manual_seed(0)
    weight = mnn.Embedding(2000, 50, dtype="float64").weight.data  # 1e5 draws: mean and std within ~5 sigma
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1) < 0.02


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.5, "affine": False}],
                         ids=["momentum0.1", "momentum-none", "momentum0.5-noaffine"])
def test_batchnorm2d_several_steps_then_eval(kwargs, dtype):
    """Three training batches (running statistics and the cumulative average follow torch), then eval on them."""
    torch_bn = torch.nn.BatchNorm2d(3, **kwargs, dtype=TORCH_DTYPES[dtype])
    manual_bn = mnn.BatchNorm2d(3, **kwargs, dtype=dtype)
    rng, tolerance = np.random.default_rng(0), tolerance_for(dtype)
    for step in range(4):
        if step == 3:
            torch_bn.eval(), manual_bn.eval()
        x = (2 * rng.standard_normal((4, 3, 3, 5)) + rng.standard_normal((1, 3, 1, 1))).astype(dtype)
        results = [compare_arrays(step, "output", manual_bn(x), to_numpy(torch_bn(torch.from_numpy(x))), tolerance)]
        results += [compare_arrays(step, f"buffer.{n}", getattr(manual_bn, n), to_numpy(b), tolerance)
                    for n, b in torch_bn.named_buffers()]
        assert all(r.passed for r in results), [r.describe() for r in results if not r.passed]
    assert int(manual_bn.num_batches_tracked) == 3


def test_layer_norm_is_the_same_in_train_and_eval():
    layer = mnn.LayerNorm((2, 3), dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(layer.train()(x), layer.eval()(x))


def test_layer_norm_rows_are_standardised():
    """Each sample's normalised block has mean 0 and (biased) variance 1/(1 + eps/σ²), before γ and β."""
    x = np.random.default_rng(0).normal(3.0, 2.0, (5, 2, 4))
    y = mnn.LayerNorm((2, 4), elementwise_affine=False, eps=0.0, dtype="float64")(x)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-15)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-14)


def test_embedding_duplicates_accumulate_by_hand():
    """Rows of G at positions holding the same index add up; other rows stay 0; the padding row gets nothing."""
    layer = mnn.Embedding(4, 2, padding_idx=3, dtype="float64")
    layer(np.array([[1, 1], [3, 1]]))
    grad = np.array([[[1.0, 10.0], [2.0, 20.0]], [[5.0, 50.0], [4.0, 40.0]]])
    assert layer.backward(grad) is None  # integer indices have no gradient
    np.testing.assert_array_equal(layer.weight.grad, [[0, 0], [7.0, 70.0], [0, 0], [0, 0]])
    layer(np.array([1]))
    layer.backward(np.array([[0.5, 0.5]]))  # accumulates until zero_grad, as torch
    np.testing.assert_array_equal(layer.weight.grad[1], [7.5, 70.5])


def test_embedding_scale_grad_by_freq_by_hand():
    layer = mnn.Embedding(3, 1, scale_grad_by_freq=True, dtype="float64")
    layer(np.array([0, 0, 0, 2]))
    layer.backward(np.array([[3.0], [6.0], [9.0], [4.0]]))
    np.testing.assert_array_equal(layer.weight.grad[:, 0], [6.0, 0.0, 4.0])  # (3+6+9)/3, -, 4/1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_embedding_max_norm_renormalises_the_table_in_place_as_torch(norm_type, dtype):
    """Forward rescales the referenced rows above max_norm (the table itself changes), twice in a row; the
    backward is the plain scatter-add (the rescaling has no gradient)."""
    torch.manual_seed(0)
    torch_layer = torch.nn.Embedding(6, 4, max_norm=1.2, norm_type=norm_type, dtype=TORCH_DTYPES[dtype])
    manual_layer = mnn.Embedding(6, 4, max_norm=1.2, norm_type=norm_type, dtype=dtype)
    manual_layer.load_state_dict(to_numpy(torch_layer.state_dict()))
    before = manual_layer.weight.data.copy()
    rng, tolerance = np.random.default_rng(1), tolerance_for(dtype)
    for step, index in enumerate((np.array([[0, 2, 2], [5, 0, 1]]), np.array([3, 2, 4]))):
        grad = rng.standard_normal(index.shape + (4,)).astype(dtype)
        torch_layer(torch.from_numpy(index)).backward(torch.from_numpy(grad))
        output = manual_layer(index)
        manual_layer.backward(grad)
        results = [compare_arrays(step, "weight", manual_layer.weight.data, to_numpy(torch_layer.weight), tolerance),
                   compare_arrays(step, "grad.weight", manual_layer.weight.grad, to_numpy(torch_layer.weight.grad),
                                  tolerance),
                   compare_arrays(step, "output", output, manual_layer.weight.data[index], tolerance)]
        assert all(r.passed for r in results), [r.describe() for r in results if not r.passed]
    norms = np.linalg.norm(manual_layer.weight.data.astype(np.float64), ord=norm_type, axis=1)
    assert (norms[[0, 1, 2, 3, 4, 5]] <= 1.2 * (1 + 1e-6)).all()
    assert (np.linalg.norm(before, ord=norm_type, axis=1) > 1.2).any()  # the case really rescales


def test_embedding_weight_given_is_used_as_is():
    """`_weight` (torch's from_pretrained route): the table as given, the padding row not zeroed, as torch."""
    table = np.arange(6.0).reshape(3, 2)
    layer = mnn.Embedding(3, 2, padding_idx=0, _weight=table, dtype="float64")
    torch_layer = torch.nn.Embedding(3, 2, padding_idx=0, _weight=torch.from_numpy(table))
    np.testing.assert_array_equal(layer.weight.data, to_numpy(torch_layer.weight))
    with pytest.raises(ValueError, match=r"_weight must have shape \(3, 2\), got \(2, 3\)"):
        mnn.Embedding(3, 2, _weight=table.T)


def test_embedding_output_is_a_copy_for_a_0d_index():
    layer = mnn.Embedding(3, 2, dtype="float64")
    row = layer(np.array(1))
    row += 1.0
    assert row.shape == (2,) and not np.shares_memory(row, layer.weight.data)


# -- the models that use them -------------------------------------------------------------------------------
MODELS = [("EmbeddingClassifier", {"num_embeddings": 7, "embedding_dim": 4, "num_classes": 3, "padding_idx": 0},
           (5, 6)),
          ("MLP", {"in_features": 4, "hidden": [6, 5], "out_features": 3, "layer_norm": True}, (2, 4)),
          ("MLP", {"in_features": 4, "hidden": [6], "out_features": 2, "layer_norm": True, "batch_norm": True,
                   "activation": "maxout"}, (3, 4))]


def model_twins(name, kwargs, dtype="float64"):
    torch.manual_seed(0)
    torch_model = getattr(torch_ref.models, name)(**kwargs, dtype=TORCH_DTYPES[dtype])
    manual_model = getattr(manual.models, name)(**kwargs, dtype=dtype)
    manual_model.load_state_dict(to_numpy(torch_model.state_dict()))
    return torch_model, manual_model


@pytest.mark.parametrize("name,kwargs,shape", MODELS, ids=lambda v: str(v))
def test_model_twins_have_the_same_keys_and_summary(name, kwargs, shape):
    """Same state_dict keys; `summary` feeds an Embedding-first model int64 indices on both sides."""
    torch_model, manual_model = model_twins(name, kwargs)
    assert list(manual_model.state_dict()) == list(torch_model.state_dict())
    assert_same_summary(manual_model, torch_model, shape)


def test_no_scikit_learn_peer_for_a_layer_norm_mlp():
    """`compare cv` puts scikit-learn's MLP beside the twins only where it builds the same network: it has no
    LayerNorm, so a layer_norm recipe gets no peer (as batch_norm and dropout)."""
    recipe = Recipe(("MLP", {"in_features": 4, "hidden": [6], "out_features": 3, "layer_norm": True}),
                    ("CrossEntropyLoss", {}), ("SGD", {"lr": 0.1}))
    assert peer_metrics(recipe, split=None, hyper={"lr": 0.1}, task="classification") is None


def test_embedding_classifier_backward_matches_finite_differences():
    """The mean over the sequence and the scatter-add, through the whole model (the indices are held fixed)."""
    _, model = model_twins("EmbeddingClassifier", {"num_embeddings": 5, "embedding_dim": 3, "num_classes": 2})
    tokens = np.random.default_rng(0).integers(0, 5, (4, 6))
    result = gradcheck.check_call(model, (tokens,), eps=1e-5)
    assert result.passed(GRADCHECK_TOLERANCE), result.describe(GRADCHECK_TOLERANCE)
    assert {probe.tensor for probe in result.probes} == {"embedding.weight", "linear.weight", "linear.bias"}


# -- what both refuse (torch's exception class, or manual's where torch has a different one) ---------------
def backward_with(module, x, grad):
    def call():
        module(x)
        return module.backward(grad)
    return call


REFUSED = {  # name: (manual call, torch call, manual's exception, fragments of its message)
    "bn2d-3d-input": (lambda: mnn.BatchNorm2d(3)(np.ones((2, 3, 4), np.float32)),
                      lambda: torch.nn.BatchNorm2d(3)(torch.ones(2, 3, 4)), ValueError,
                      ("BatchNorm2d(3", "expected input of shape (N, 3, H, W)", "got (2, 3, 4)")),
    "bn2d-channels": (lambda: mnn.BatchNorm2d(3)(np.ones((2, 4, 2, 2), np.float32)),
                      lambda: torch.nn.BatchNorm2d(3)(torch.ones(2, 4, 2, 2)), ValueError,
                      ("BatchNorm2d(3", "(N, 3, H, W)", "got (2, 4, 2, 2)")),
    "bn2d-one-value-per-channel": (lambda: mnn.BatchNorm2d(3)(np.ones((1, 3, 1, 1), np.float32)),
                                   lambda: torch.nn.BatchNorm2d(3)(torch.ones(1, 3, 1, 1)), ValueError,
                                   ("BatchNorm2d(3", "more than 1 value per channel", "(1, 3, 1, 1)")),
    "layernorm-last-dim": (lambda: mnn.LayerNorm(5)(np.ones((2, 4), np.float32)),
                           lambda: torch.nn.LayerNorm(5)(torch.ones(2, 4)), ValueError,
                           ("LayerNorm((5,)", "expected input of shape (*, 5)", "got (2, 4)")),
    "layernorm-too-few-dims": (lambda: mnn.LayerNorm((2, 5))(np.ones(5, np.float32)),
                               lambda: torch.nn.LayerNorm((2, 5))(torch.ones(5)), ValueError,
                               ("LayerNorm((2, 5)", "(*, 2, 5)", "got (5,)")),
    "layernorm-dtype": (lambda: mnn.LayerNorm(5)(np.ones((2, 5))),
                        lambda: torch.nn.LayerNorm(5)(torch.ones(2, 5, dtype=torch.float64)), TypeError,
                        ("LayerNorm((5,)", "input dtype float64", "dtype float32")),
    "embedding-index-too-large": (lambda: mnn.Embedding(4, 3)(np.array([0, 4])),
                                  lambda: torch.nn.Embedding(4, 3)(torch.tensor([0, 4])), IndexError,
                                  ("Embedding(4, 3)", "index out of range in self", "[0, 4)", "[0, 4]")),
    "embedding-negative-index": (lambda: mnn.Embedding(4, 3)(np.array([[-1, 2]])),
                                 lambda: torch.nn.Embedding(4, 3)(torch.tensor([[-1, 2]])), IndexError,
                                 ("Embedding(4, 3)", "index out of range in self", "[-1, 2]")),
    "embedding-float-indices": (lambda: mnn.Embedding(4, 3)(np.array([1.0])),
                                lambda: torch.nn.Embedding(4, 3)(torch.tensor([1.0])), TypeError,
                                ("Embedding(4, 3)", "int64 or int32", "got dtype float64")),
    "embedding-int16-indices": (lambda: mnn.Embedding(4, 3)(np.array([1], np.int16)),
                                lambda: torch.nn.Embedding(4, 3)(torch.tensor([1], dtype=torch.int16)), TypeError,
                                ("Embedding(4, 3)", "int64 or int32", "got dtype int16")),
    "embedding-list": (lambda: mnn.Embedding(4, 3)([1, 2]), lambda: torch.nn.Embedding(4, 3)([1, 2]), TypeError,
                       ("Embedding(4, 3)", "numpy.ndarray", "got list")),
    "embedding-padding_idx": (lambda: mnn.Embedding(4, 3, padding_idx=4),
                              lambda: torch.nn.Embedding(4, 3, padding_idx=4), ValueError,
                              ("Embedding", "padding_idx must be within num_embeddings", "[-4, 4)", "got 4")),
    "embedding-negative-padding_idx": (lambda: mnn.Embedding(4, 3, padding_idx=-5),
                                       lambda: torch.nn.Embedding(4, 3, padding_idx=-5), ValueError,
                                       ("Embedding", "padding_idx must be within", "got -5")),
    "embedding-grad-shape": (backward_with(mnn.Embedding(4, 3), np.array([1, 2]), np.ones((2, 4), np.float32)),
                             lambda: torch.nn.Embedding(4, 3)(torch.tensor([1, 2])).backward(torch.ones(2, 4)),
                             ValueError, ("Embedding(4, 3)", "grad_output of the output's shape (2, 3)", "(2, 4)")),
    "layernorm-grad-shape": (backward_with(mnn.LayerNorm(5), np.ones((2, 5), np.float32), np.ones(5, np.float32)),
                             lambda: torch.nn.LayerNorm(5)(torch.ones(2, 5)).backward(torch.ones(5)),
                             ValueError, ("LayerNorm((5,)", "grad_output of the output's shape (2, 5)", "got (5,)")),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_as_torch_refuses(name):
    manual_call, torch_call, error, fragments = REFUSED[name]
    with pytest.raises(error) as raised:
        manual_call()
    assert all(f in str(raised.value) for f in fragments), (str(raised.value), fragments)
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError, AssertionError)):
        torch_call()


def test_embedding_sparse_gradients_are_refused_with_the_dense_alternative():
    with pytest.raises(NotImplementedError, match="sparse=True.*sparse=False gives the same gradient values"):
        mnn.Embedding(4, 3, sparse=True)
