"""Attention's functional core and edges: F.scaled_dot_product_attention against torch autograd (float64 and float32)
and finite differences through compare.testing, torch's fully-masked-row and NaN behaviour, empty sizes, refused
inputs with messages, and refused backward passes that change nothing. Module-level comparisons with torch:
tests/torch_samples/test_attention.py and the module catalogue (compare/catalogue/attention_cases.py)."""
import numpy as np
import pytest
import torch

import manual.nn as mnn
import manual.nn.functional as F
from compare.engine.twins import to_numpy
from compare.testing import assert_module_matches


class ManualSDPA(mnn.Module):
    """F.scaled_dot_product_attention as a module, so compare.testing checks it (q, k, v are its inputs)."""

    def __init__(self, attn_mask=None, is_causal=False, scale=None):
        super().__init__()
        self.attn_mask, self.is_causal, self.scale = attn_mask, is_causal, scale

    def forward(self, query, key, value):
        mask = self.attn_mask
        if mask is not None and mask.dtype != np.bool_:
            mask = mask.astype(query.dtype)
        output = F.scaled_dot_product_attention(query, key, value, mask, is_causal=self.is_causal, scale=self.scale)
        self.save_for_backward(query, key, value, F.attention_weights(query, key, mask, self.is_causal, self.scale))
        return output

    def backward(self, grad_output):
        return F.scaled_dot_product_attention_backward(grad_output, *self.saved_for_backward(), scale=self.scale)


class TorchSDPA(torch.nn.Module):
    def __init__(self, attn_mask=None, is_causal=False, scale=None):
        super().__init__()
        self.attn_mask, self.is_causal, self.scale = attn_mask, is_causal, scale

    def forward(self, query, key, value):
        mask = None if self.attn_mask is None else torch.from_numpy(self.attn_mask)
        if mask is not None and mask.is_floating_point():
            mask = mask.to(query.dtype)
        return torch.nn.functional.scaled_dot_product_attention(query, key, value, mask, is_causal=self.is_causal,
                                                                scale=self.scale)


RNG = np.random.default_rng(7)
ROW_MASKED = np.ones((4, 6), dtype=bool)
ROW_MASKED[2] = False  # query 2 may attend to nothing: torch's output and gradients are 0 there
SDPA_CASES = {
    "plain": {},
    "causal": {"is_causal": True},
    "bool-mask-broadcast": {"attn_mask": RNG.random((1, 4, 6)) < 0.7},
    "float-mask": {"attn_mask": RNG.standard_normal((2, 3, 4, 6))},
    "scale": {"scale": 0.3},
    "fully-masked-row": {"attn_mask": ROW_MASKED},
}


@pytest.mark.parametrize("kwargs", SDPA_CASES.values(), ids=SDPA_CASES.keys())
def test_sdpa_matches_torch_and_finite_differences(kwargs):
    shapes = ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2))
    assert_module_matches(ManualSDPA(**kwargs), TorchSDPA(**kwargs),
                          lambda rng: tuple(rng.standard_normal(s) for s in shapes))


def test_causal_with_more_queries_than_keys_is_top_left_aligned():
    q, k, v = RNG.standard_normal((5, 3)), RNG.standard_normal((3, 3)), RNG.standard_normal((3, 2))
    expected = torch.nn.functional.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), is_causal=True)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True), expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nan_in_a_key_reaches_only_the_queries_that_attend_to_it(dtype):
    """As torch's CPU flash kernel, which 4-d (N, H, L, E) inputs take (MultiheadAttention's call); torch's math
    kernel (3-d inputs) adds the causal mask instead, and NaN + -inf spreads the NaN to every query there."""
    q, k, v = (RNG.standard_normal((1, 2, 4, 3)).astype(dtype) for _ in range(3))
    k[0, 1, 2, 0] = np.nan
    output = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert np.isfinite(output[0, :, :2]).all() and np.isnan(output[0, 1, 2:]).all()
    expected = torch.nn.functional.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), is_causal=True)
    np.testing.assert_array_equal(np.isnan(output), expected.isnan().numpy())
    np.testing.assert_allclose(output[0, :, :2], expected[0, :, :2].numpy(), rtol=1e-5)


def test_fully_masked_row_is_nan_in_multihead_weights_as_torch():
    torch.manual_seed(0)
    t_mha = torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64)
    m_mha = mnn.MultiheadAttention(4, 2, batch_first=True, dtype="float64")
    m_mha.load_state_dict(to_numpy(t_mha.state_dict()))
    x = RNG.standard_normal((1, 3, 4))
    mask = np.zeros((3, 3), dtype=bool)
    mask[1] = True  # torch's MHA: True = do not attend; query 1 attends nothing
    for need_weights in (True, False):
        t_out, _ = t_mha(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(mask), need_weights=need_weights)
        m_out, _ = m_mha(x, x, x, attn_mask=mask, need_weights=need_weights)
        np.testing.assert_array_equal(np.isnan(m_out), t_out.isnan().numpy())
        assert np.isnan(m_out[0, 1]).all() == need_weights


def test_empty_sizes():
    q, k, v = np.zeros((2, 3, 4)), np.zeros((2, 0, 4)), np.zeros((2, 0, 5))
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v), np.zeros((2, 3, 5)))  # as torch
    weights = F.attention_weights(q, k)
    grads = F.scaled_dot_product_attention_backward(np.ones((2, 3, 5)), q, k, v, weights)
    assert [g.shape for g in grads] == [q.shape, k.shape, v.shape] and not grads[0].any()
    layer = mnn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True, dtype="float64")
    assert layer(np.zeros((0, 3, 4))).shape == (0, 3, 4)
    assert layer.backward(np.zeros((0, 3, 4))).shape == (0, 3, 4)


MHA = mnn.MultiheadAttention(6, 2, batch_first=True, dtype="float64")
X = RNG.standard_normal((2, 4, 6))
REFUSED = [
    (lambda: F.scaled_dot_product_attention(X.astype(np.float32), X, X), TypeError, "same dtype"),
    (lambda: F.scaled_dot_product_attention(X, X[:, :3, :5], X), ValueError, "key"),
    (lambda: F.scaled_dot_product_attention(X, X, X, np.ones((3, 4), bool)), ValueError, "does not broadcast"),
    (lambda: F.scaled_dot_product_attention(X, X, X, np.ones((4, 4), np.int64)), TypeError, "attn_mask"),
    (lambda: F.scaled_dot_product_attention(X, X, X, np.ones((4, 4), bool), is_causal=True), ValueError, "not both"),
    (lambda: F.scaled_dot_product_attention(X, X, X, dropout_p=0.1), ValueError, "dropout_p"),
    (lambda: MHA(X.astype(np.float32), X, X), TypeError, r"MultiheadAttention\(embed_dim=6.* query"),
    (lambda: MHA(X, X[..., :5], X), ValueError, "key of shape"),
    (lambda: MHA(X, X[:, :3], X), ValueError, "same batch and sequence"),
    (lambda: MHA(X, X, X, key_padding_mask=np.zeros((2, 5), bool)), ValueError, r"key_padding_mask must have shape"),
    (lambda: MHA(X, X, X, attn_mask=np.zeros((4, 4), np.float32)), TypeError, "attn_mask must be a bool or float64"),
    (lambda: MHA(X, X, X, is_causal=True), RuntimeError, "Need attn_mask"),
    (lambda: mnn.MultiheadAttention(6, 4), ValueError, "divisible"),
    (lambda: mnn.MultiheadAttention(6, 2, add_bias_kv=True), ValueError, "add_bias_kv"),
    (lambda: mnn.MultiheadAttention(6, 2, dropout=0.1, dtype="float64")(X, X, X), ValueError, "dropout > 0 in training"),
    (lambda: mnn.TransformerEncoderLayer(6, 2, dtype="float64")(X), ValueError, "dropout > 0 in training"),
    (lambda: mnn.TransformerEncoderLayer(6, 2, activation="tanh"), ValueError, "relu/gelu"),
]


@pytest.mark.parametrize("call, error, message", REFUSED, ids=[m for _, _, m in REFUSED])
def test_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("module, arguments, outputs", [
    (mnn.MultiheadAttention(6, 2, batch_first=True, dtype="float64"), (X, X, X), 2),
    (mnn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, batch_first=True, dtype="float64"), (X,), 1),
], ids=["MultiheadAttention", "TransformerEncoderLayer"])
def test_refused_backward_changes_nothing(module, arguments, outputs):
    result = module(*arguments)
    grads = [np.ones_like(r) for r in (result if outputs > 1 else (result,))]
    with pytest.raises(ValueError, match="grad_output"):
        module.backward(np.ones((1, 4, 6)), *grads[1:])
    assert all(p.grad is None for p in module.parameters())
    retried = module.backward(*grads)  # the forward's state survived the refusal
    module.zero_grad()
    module(*arguments)
    fresh = module.backward(*grads)
    for a, b in zip(retried if outputs > 1 else (retried,), fresh if outputs > 1 else (fresh,), strict=True):
        np.testing.assert_array_equal(a, b)


def test_editing_returned_unbatched_weights_changes_no_gradient():
    """Unbatched per-head weights are P[0]: returned as a copy, not a view of the P the backward reads."""
    mha = mnn.MultiheadAttention(6, 2, dtype="float64")
    x = RNG.standard_normal((4, 6))
    grads = []
    for edit in (False, True):
        mha.zero_grad()
        output, weights = mha(x, x, x, average_attn_weights=False)
        if edit:
            weights += 1.0
        grads.append(mha.backward(np.ones_like(output))[0])
    np.testing.assert_array_equal(grads[0], grads[1])
