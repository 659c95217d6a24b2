"""MultiheadAttention: the projections and the heads around `functional.scaled_dot_product_attention` (the math
and its derivation live there)."""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, resolve_dtype
from manual.nn.linear import Linear
from manual.nn.module import Module, Parameter


def xavier_uniform(rng, shape, dtype) -> np.ndarray:
    """torch's xavier_uniform_: U(-b, b), b = √(6 / (fan_in + fan_out)) for a (fan_out, fan_in) weight."""
    bound = np.sqrt(6.0 / (shape[0] + shape[1])) if shape[0] + shape[1] else 0.0
    return rng.uniform(-bound, bound, shape).astype(dtype)


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for MultiheadAttention's out_proj: a Linear (torch subclasses it only to keep it from being
    quantized dynamically); MultiheadAttention applies its weight and bias itself, as torch does."""


class MultiheadAttention(Module):
    """Multi-head attention, as `torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False, dtype=None)`.

    With H = num_heads heads of D = embed_dim/H and (batch_first) query (N, L, E), key (N, S, kdim),
    value (N, S, vdim):
        q = query W_qᵀ + b_q,  k = key W_kᵀ + b_k,  v = value W_vᵀ + b_v       (N, ·, E) each
        per head h: O_h = softmax(q_h k_hᵀ/√D + M) v_h                      (functional.attention)
        output = concat_h(O_h) W_oᵀ + b_o                                   (N, L, E)
    W_q, W_k, W_v are the three row blocks of `in_proj_weight` (3E, E) when kdim = vdim = E, otherwise the
    separate `q_proj_weight` (E, E), `k_proj_weight` (E, kdim), `v_proj_weight` (E, vdim); b_q, b_k, b_v the
    blocks of `in_proj_bias` (3E,); W_o, b_o are `out_proj.weight`, `out_proj.bias` (torch's
    NonDynamicallyQuantizableLinear, a Linear). Init as torch: xavier_uniform_ on the projection weights, zero
    biases, the out_proj weight as a Linear's. batch_first=False (torch's default) takes (L, N, E) inputs; a
    2-d (L, E) input is one unbatched sequence.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) returns (output, weights or None), as torch:
    - masks, unlike F.scaled_dot_product_attention's: a bool True means "do NOT attend" (-inf), a float is added;
      key_padding_mask (N, S), attn_mask (L, S) or (N·H, L, S); they add up;
    - need_weights=True returns P averaged over the heads (N, L, S), or per head (N, H, L, S) with
      average_attn_weights=False, computed by a plain softmax (a fully masked row is NaN, as torch); with
      need_weights=False torch calls scaled_dot_product_attention, whose fully masked rows are 0;
    - is_causal is a hint that attn_mask is the causal mask (it needs attn_mask, as torch); torch uses the hint
      itself (and ignores attn_mask) only when need_weights=False and there is no key_padding_mask.
    Backward(grad_output, grad_weights=None): out_proj's (Linear), a split of the heads, the attention backward
    (functional.attention; dL/dP from the returned weights joins it: 1/H per head when averaged), merges, and the
    three in-projections (Linear's: dL/dx = G W, dL/dW = Gᵀ x, dL/db = Σ G). Returns (dL/dquery, dL/dkey,
    dL/dvalue); for self-attention (one tensor as all three) their sum is its gradient.
    Not supported, refused in one line: add_bias_kv=True, add_zero_attn=True, and dropout > 0 in training (its
    mask on the weights is drawn inside torch's F.multi_head_attention_forward and cannot be shared); dropout > 0
    is accepted for eval, where it does nothing.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim must be divisible by num_heads, got {embed_dim} and "
                             f"{num_heads}")
        if add_bias_kv or add_zero_attn:
            raise ValueError("MultiheadAttention: add_bias_kv=True and add_zero_attn=True are not supported in "
                             "manual (use the defaults, False)")
        dtype = resolve_dtype(dtype)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = dropout, batch_first
        self.add_zero_attn = False
        rng = random.generator()
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(xavier_uniform(rng, (3 * embed_dim, embed_dim), dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(xavier_uniform(rng, (embed_dim, embed_dim), dtype))
            self.k_proj_weight = Parameter(xavier_uniform(rng, (embed_dim, self.kdim), dtype))
            self.v_proj_weight = Parameter(xavier_uniform(rng, (embed_dim, self.vdim), dtype))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias", Parameter(np.zeros(3 * embed_dim, dtype)) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            self.out_proj.bias.data[...] = 0
        self.bias_k = self.bias_v = None

    # -- the pieces ------------------------------------------------------------------------------------
    def _projection_weights(self) -> tuple:
        if self.in_proj_weight is not None:
            return tuple(np.split(self.in_proj_weight.data, 3))
        return self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data

    def _projection_biases(self) -> tuple:
        return (None,) * 3 if self.in_proj_bias is None else tuple(np.split(self.in_proj_bias.data, 3))

    def _to_batch_first(self, x, batched: bool):
        if not batched:
            return x[None]
        return x if self.batch_first else x.transpose(1, 0, 2)

    def _from_batch_first(self, x, batched: bool):
        if not batched:
            return x[0]
        return x if self.batch_first else x.transpose(1, 0, 2)

    def _check_inputs(self, query, key, value, dtype) -> bool:
        for name, x, size in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            check_float_input(f"{self.label()} {name}", x, dtype)
            if x.ndim != query.ndim or x.ndim not in (2, 3) or x.shape[-1] != size:
                layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
                raise ValueError(f"{self.label()}: expected {name} of shape {layout} or unbatched (L, E) with last "
                                 f"dim {size} and as many dims as query, got {x.shape}")
        batched = query.ndim == 3
        b = 0 if self.batch_first else 1
        if key.shape[:-1] != value.shape[:-1] or (batched and query.shape[b] != key.shape[b]):
            raise ValueError(f"{self.label()}: key {key.shape} and value {value.shape} must have the same batch and "
                             f"sequence dims, and the batch size of query {query.shape}")
        return batched

    def _mask(self, mask, name: str, shapes: tuple, dtype) -> np.ndarray | None:
        """A bool (True = do not attend: -inf) or float mask as an additive float mask; shapes: those allowed."""
        if mask is None:
            return None
        if type(mask) is not np.ndarray or (mask.dtype != np.bool_ and mask.dtype != dtype):
            raise TypeError(f"{self.label()}: {name} must be a bool or {dtype} numpy.ndarray, got "
                            f"{getattr(mask, 'dtype', type(mask).__name__)}")
        if mask.shape not in shapes:
            raise ValueError(f"{self.label()}: {name} must have shape {' or '.join(map(str, shapes))}, got "
                             f"{mask.shape}")
        return np.where(mask, -np.inf, 0.0).astype(dtype) if mask.dtype == np.bool_ else mask

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        dtype = self.out_proj.weight.dtype
        batched = self._check_inputs(query, key, value, dtype)
        if self.training and self.dropout > 0:
            raise ValueError(f"{self.label()}: dropout > 0 in training is not supported (torch draws the attention "
                             f"dropout mask inside F.multi_head_attention_forward, where it cannot be shared); "
                             f"use dropout=0.0, or eval()")
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{self.label()}: Need attn_mask if specifying the is_causal hint (as torch)")
        q_in, k_in, v_in = (self._to_batch_first(x, batched) for x in (query, key, value))
        n, length, source = q_in.shape[0], q_in.shape[1], k_in.shape[1]
        heads = self.num_heads
        padding = self._mask(key_padding_mask, "key_padding_mask", ((n, source),) if batched else ((source,),), dtype)
        causal_hint = is_causal and padding is None and not need_weights
        mask = None if causal_hint else self._mask(attn_mask, "attn_mask",
                                                   ((length, source), (n * heads, length, source)), dtype)
        if mask is not None:
            mask = mask[None, None] if mask.ndim == 2 else mask.reshape(n, heads, length, source)
        if padding is not None:
            padding = padding.reshape(n, 1, 1, source)
            mask = padding if mask is None else mask + padding

        weights_qkv, biases = self._projection_weights(), self._projection_biases()
        q, k, v = (F.split_heads(F.linear(x, w, b), heads)
                   for x, w, b in zip((q_in, k_in, v_in), weights_qkv, biases, strict=True))
        # need_weights: torch's own path scales q by √(1/D) (not 1/√D, which can differ in the last bit)
        scale = float(np.sqrt(1.0 / self.head_dim)) if need_weights else None
        p = F.attention_weights(q, k, mask, is_causal=causal_hint, scale=scale, safe=not need_weights)
        merged = F.merge_heads(p @ v)
        out_bias = self.out_proj.bias
        output = self._from_batch_first(F.linear(merged, self.out_proj.weight.data,
                                                 None if out_bias is None else out_bias.data), batched)
        weights = None
        if need_weights:
            weights = p.mean(axis=1) if average_attn_weights else p
            weights = weights if batched else weights[0].copy()  # not a view of the saved P the caller could edit
        # the caller's arrays themselves (not views of them), so that the lock catches an in-place edit
        self.save_for_backward(query, key, value, q, k, v, p, merged, scale, batched, average_attn_weights,
                               None if weights is None else weights.shape, output.shape)
        return output, weights

    def backward(self, grad_output, grad_weights=None):
        saved = self.saved_for_backward()
        query, key, value, q, k, v, p, merged, scale, batched, averaged, weights_shape, output_shape = saved
        try:
            check_grad_output(self, grad_output, output_shape)
            if grad_weights is not None:
                if weights_shape is None:
                    raise ValueError(f"{self.label()}: grad_weights given, but the forward returned no weights "
                                     f"(need_weights=False)")
                check_grad_output(f"{self.label()} grad_weights", grad_weights, weights_shape)
        except (ValueError, TypeError):
            self.save_for_backward(*saved)  # a refused backward consumes nothing: a corrected retry works
            raise
        heads = self.num_heads
        q_in, k_in, v_in = (self._to_batch_first(x, batched) for x in (query, key, value))
        grad_merged, grad_out_weight, grad_out_bias = F.linear_backward(
            self._to_batch_first(grad_output, batched), merged, self.out_proj.weight.data, self.out_proj.bias is not None)
        self.out_proj.accumulate_parameter_grads(weight=grad_out_weight, bias=grad_out_bias)
        grad_p = None
        if grad_weights is not None:
            grad_p = grad_weights if batched else grad_weights[None]
            if averaged:
                grad_p = np.broadcast_to(grad_p[:, None] / np.asarray(heads, p.dtype), p.shape)
        grads_heads = F.scaled_dot_product_attention_backward(F.merge_heads_backward(grad_merged, heads), q, k, v,
                                                              p, scale, grad_weights=grad_p)
        grads_in, grads_w, grads_b = [], [], []
        for g_heads, x, w in zip(grads_heads, (q_in, k_in, v_in), self._projection_weights(), strict=True):
            g_in, g_w, g_b = F.linear_backward(F.split_heads_backward(g_heads), x, w, self.in_proj_bias is not None)
            grads_in.append(self._from_batch_first(g_in, batched))
            grads_w.append(g_w)
            grads_b.append(g_b)
        if self.in_proj_weight is not None:
            self.accumulate_parameter_grads(in_proj_weight=np.concatenate(grads_w))
        else:
            self.accumulate_parameter_grads(q_proj_weight=grads_w[0], k_proj_weight=grads_w[1],
                                            v_proj_weight=grads_w[2])
        if self.in_proj_bias is not None:
            self.accumulate_parameter_grads(in_proj_bias=np.concatenate(grads_b))
        return tuple(grads_in)

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"bias={self.in_proj_bias is not None}, kdim={self.kdim}, vdim={self.vdim}, "
                f"batch_first={self.batch_first}")
