"""Scaled dot-product attention and its hand-derived backward; the head split and merge of multi-head attention.

Forward, per batch (and head) entry, with Q (L, E), K (S, E), V (S, Eᵥ) and s = `scale` (default 1/√E):
    A = s·Q Kᵀ + M          (L, S) scores; M the additive mask (0 where allowed, -inf where not)
    P = softmax_rows(A)     (L, S) attention weights: row i says how much query i takes from each key j
    O = P V                 (L, Eᵥ)
Masks, as torch 2.13's `F.scaled_dot_product_attention`:
- a boolean `attn_mask` says where to attend (True = take part), i.e. M = 0 where True and -inf where False;
  a float `attn_mask` is M itself. Either broadcasts to (..., L, S). It is ADDED to the scores, so a NaN score
  stays NaN where the mask is -inf (NaN + -inf = NaN), as in torch;
- `is_causal=True` keeps j ≤ i (the lower-left triangle of (L, S), torch's `tril(ones(L, S))`) and replaces
  every other score by -inf, so a NaN in a key reaches only the queries that attend to it (as torch's CPU flash
  kernel, which 4-d inputs take; its math kernel, used for 3-d inputs, adds the mask and spreads the NaN);
- a row with every score -inf (a query that may attend to nothing) gets P = 0, hence O = 0 and zero
  gradients: torch's `_safe_softmax` ("fully masked rows are zeros"). `safe=False` keeps the plain softmax,
  0/0 = NaN, which is what `MultiheadAttention` returns with need_weights=True (its weights path calls softmax).
Only dropout_p = 0 is supported (torch's mask cannot be shared through this pure function).

Backward, with G = dL/dO (and an optional dL/dP from outside, e.g. the weights MultiheadAttention returns):
    dL/dV = Pᵀ G                              O = P V is linear in V
    dL/dP = G Vᵀ (+ the outside dL/dP)        ... and in P
    dL/dA = P ⊙ (dL/dP - rowsum(dL/dP ⊙ P))   the softmax Jacobian ∂P_ij/∂A_ik = P_ij(δ_jk - P_ik) applied per
                                              row, as `softmax_backward`; the `- rowsum` is the softmax term
    dL/dQ = s · dL/dA K                       A = s·Q Kᵀ + M, so the scale multiplies both products
    dL/dK = s · (dL/dA)ᵀ Q
The mask is a constant: it enters the backward only through P, which is 0 wherever the mask (or causality)
removed a key, so dL/dA = 0 there and no gradient reaches a masked key through that query. A float mask
would get dL/dM = dL/dA (summed over its broadcast dims); torch's masks are data, so it is not returned.

Multi-head attention splits the last dim E of (N, L, E) into H heads of D = E/H: (N, L, E) -> (N, H, L, D)
(torch's `view(L, N·H, D)`: head h takes the columns h·D .. (h+1)·D - 1). Merging is the inverse. Both move
values only, so the backward of a split is a merge and the backward of a merge is a split.
"""
import math

import numpy as np

from manual.nn.functional.softmax import softmax, softmax_backward

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward", "attention_weights",
           "attention_scale", "attention_softmax_backward", "causal_mask", "split_heads", "merge_heads",
           "split_heads_backward", "merge_heads_backward"]

NAME = "scaled_dot_product_attention"


def attention_scale(head_dim: int, scale: float | None = None) -> float:
    """torch's default 1/√E (E = the query's last dim); an explicit `scale` replaces it."""
    if scale is not None:
        return float(scale)
    return 1.0 / math.sqrt(head_dim) if head_dim > 0 else 1.0


def causal_mask(target_len: int, source_len: int) -> np.ndarray:
    """Boolean (L, S), True where query i may attend key j: j ≤ i (torch's `ones(L, S).tril(0)`)."""
    return np.tri(target_len, source_len, dtype=np.bool_)


def _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa) -> None:
    arrays = {"query": query, "key": key, "value": value}
    for name, array in arrays.items():
        if type(array) is not np.ndarray or array.dtype not in (np.float32, np.float64):
            raise TypeError(f"{NAME}: {name} must be a float32 or float64 numpy.ndarray, got "
                            f"{getattr(array, 'dtype', type(array).__name__)}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{NAME}: query, key and value must have the same dtype, got {query.dtype}, {key.dtype} "
                        f"and {value.dtype}")
    if query.ndim < 2 or key.ndim != query.ndim or value.ndim != query.ndim \
            or key.shape[:-2] != query.shape[:-2] or value.shape[:-2] != query.shape[:-2] \
            or key.shape[-1] != query.shape[-1] or value.shape[-2] != key.shape[-2]:
        raise ValueError(f"{NAME}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev) with the same "
                         f"leading dims, got {query.shape}, {key.shape} and {value.shape}")
    if dropout_p != 0.0:
        raise ValueError(f"{NAME}: only dropout_p=0.0 is supported (got {dropout_p}): the dropout mask on the "
                         f"weights cannot be shared with torch")
    if enable_gqa:
        raise ValueError(f"{NAME}: enable_gqa=True is not supported")
    if attn_mask is not None:
        if is_causal:
            raise ValueError(f"{NAME}: set attn_mask or is_causal, not both (torch raises too)")
        if type(attn_mask) is not np.ndarray or (attn_mask.dtype != np.bool_ and attn_mask.dtype != query.dtype):
            raise TypeError(f"{NAME}: attn_mask must be a bool or {query.dtype} numpy.ndarray (the query's dtype), "
                            f"got {getattr(attn_mask, 'dtype', type(attn_mask).__name__)}")
        scores_shape = query.shape[:-1] + key.shape[-2:-1]
        try:
            broadcast = np.broadcast_shapes(attn_mask.shape, scores_shape)
        except ValueError:
            broadcast = None
        if broadcast != scores_shape:
            raise ValueError(f"{NAME}: attn_mask of shape {attn_mask.shape} does not broadcast to the scores' shape "
                             f"{scores_shape} (..., L, S)")


def attention_weights(query, key, attn_mask=None, is_causal: bool = False, scale: float | None = None,
                      safe: bool = True) -> np.ndarray:
    """P = softmax_rows(s·Q Kᵀ + M) (see the module docstring), (..., L, S). `attn_mask`: bool (True = attend)
    or additive float; `safe`: fully masked rows give 0 (SDPA) rather than NaN (plain softmax)."""
    s = attention_scale(query.shape[-1], scale)
    scores = (query * np.asarray(s, dtype=query.dtype)) @ np.swapaxes(key, -1, -2)
    if attn_mask is not None:
        if attn_mask.dtype == np.bool_:
            attn_mask = np.where(attn_mask, 0.0, -np.inf).astype(scores.dtype)
        scores = scores + attn_mask
    if is_causal:
        scores = np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf)
    with np.errstate(invalid="ignore"):  # -inf - (-inf) in a fully masked row: NaN, replaced below when safe
        weights = softmax(scores, -1)
    if safe and weights.size:
        weights = np.where(np.all(scores == -np.inf, axis=-1, keepdims=True), 0.0, weights).astype(scores.dtype)
    return weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> np.ndarray:
    """O = softmax(s·Q Kᵀ + M) V, as `torch.nn.functional.scaled_dot_product_attention` (dropout_p = 0 only).
    For the backward keep `attention_weights(...)` (P) and call `scaled_dot_product_attention_backward`."""
    _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    return attention_weights(query, key, attn_mask, is_causal, scale) @ value


def attention_softmax_backward(grad_weights, weights):
    """dL/dA = P ⊙ (dL/dP - rowsum(dL/dP ⊙ P)): the softmax Jacobian of each row (`softmax_backward`)."""
    return softmax_backward(grad_weights, weights, -1)


def scaled_dot_product_attention_backward(grad_output, query, key, value, weights, scale: float | None = None,
                                          grad_weights=None):
    """(dL/dQ, dL/dK, dL/dV) of O = P V with P = `weights` from the forward (module docstring); `grad_weights`
    is a dL/dP reaching P from outside (None: P is used only for O)."""
    s = np.asarray(attention_scale(query.shape[-1], scale), dtype=query.dtype)
    grad_value = np.swapaxes(weights, -1, -2) @ grad_output
    grad_p = grad_output @ np.swapaxes(value, -1, -2)
    if grad_weights is not None:
        grad_p = grad_p + grad_weights
    grad_scores = attention_softmax_backward(grad_p, weights)
    grad_query = (grad_scores @ key) * s
    grad_key = (np.swapaxes(grad_scores, -1, -2) @ query) * s
    return grad_query, grad_key, grad_value


def split_heads(x, num_heads: int):
    """(N, L, H·D) -> (N, H, L, D)."""
    n, length, embed = x.shape
    return x.reshape(n, length, num_heads, embed // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(N, H, L, D) -> (N, L, H·D), the inverse of `split_heads`."""
    n, heads, length, head_dim = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, length, heads * head_dim)


def split_heads_backward(grad_heads):
    """dL/dx of `split_heads`: the values only moved, so the gradient moves back (a merge)."""
    return merge_heads(grad_heads)


def merge_heads_backward(grad_merged, num_heads: int):
    """dL/dx of `merge_heads`: a split."""
    return split_heads(grad_merged, num_heads)
