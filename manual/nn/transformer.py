"""TransformerEncoderLayer: self-attention and a feed-forward block, each with a residual connection and a
LayerNorm, put together from MultiheadAttention, Linear, Dropout and LayerNorm (their math and derivations live
in `functional`); this file derives only how the pieces join."""
from manual.nn import functional as F
from manual.nn._checks import check_float_input, check_grad_output, resolve_dtype
from manual.nn.attention import MultiheadAttention
from manual.nn.dropout import Dropout
from manual.nn.linear import Linear
from manual.nn.module import Module
from manual.nn.normalization import LayerNorm

# activation name -> (forward, backward, what the backward takes: "input" or "output")
ACTIVATIONS = {"relu": (F.relu, F.relu_backward, "output"), "gelu": (F.gelu, F.gelu_backward, "input")}


class TransformerEncoderLayer(Module):
    """As `torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, dtype=None)`.

    With sa(x) = dropout1(self_attn(x, x, x)[0]) and ff(x) = dropout2(linear2(dropout(act(linear1(x))))):
        norm_first=False (post-norm, torch's default):  x₁ = norm1(x + sa(x)),   y = norm2(x₁ + ff(x₁))
        norm_first=True  (pre-norm, GPT's):             x₁ = x + sa(norm1(x)),   y = x₁ + ff(norm2(x₁))
    Backward, with G = dL/dy: a residual x + f(x) passes G on unchanged AND through f, so the two add:
        post-norm:  G₁ = norm2ᵀ(G);  dL/dx₁ = G₁ + ffᵀ(G₁);  G₀ = norm1ᵀ(dL/dx₁);  dL/dx = G₀ + saᵀ(G₀)
        pre-norm:   dL/dx₁ = G + norm2ᵀ(ffᵀ(G));  dL/dx = dL/dx₁ + norm1ᵀ(saᵀ(dL/dx₁))
    where fᵀ is a piece's backward. x is query, key and value of the self-attention at once, so saᵀ is the sum
    of the attention's three input gradients. activation: "relu" or "gelu" (torch also takes a callable; manual
    needs the name to know the derivative). forward(src, src_mask=None, src_key_padding_mask=None,
    is_causal=False): the masks and the is_causal hint go to self_attn as torch passes them (need_weights=False).
    State_dict keys as torch: self_attn.in_proj_weight, self_attn.in_proj_bias, self_attn.out_proj.*,
    linear1.*, linear2.*, norm1.*, norm2.*. dropout > 0 is refused in training (MultiheadAttention's dropout
    cannot be shared with torch), before anything runs; in eval it does nothing, as in torch.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"TransformerEncoderLayer: activation should be relu/gelu, not {activation!r} "
                             f"(manual takes the name, not a function)")
        dtype = resolve_dtype(dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    # -- the two blocks and their backward passes --------------------------------------------------------
    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False, attn_mask=attn_mask,
                                is_causal=is_causal)
        return self.dropout1(out)

    def _sa_block_backward(self, grad):
        grad_query, grad_key, grad_value = self.self_attn.backward(self.dropout1.backward(grad))
        return grad_query + grad_key + grad_value

    def _ff_block(self, x):
        """(ff(x), what the activation's backward needs)."""
        forward, _, keeps = ACTIVATIONS[self.activation]
        hidden = self.linear1(x)
        activated = forward(hidden)
        return self.dropout2(self.linear2(self.dropout(activated))), hidden if keeps == "input" else activated

    def _ff_block_backward(self, grad, kept):
        _, backward, _ = ACTIVATIONS[self.activation]
        grad_activated = self.dropout.backward(self.linear2.backward(self.dropout2.backward(grad)))
        return self.linear1.backward(backward(grad_activated, kept))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        check_float_input(self, src, self.linear1.weight.dtype)
        if self.training and self.self_attn.dropout > 0:  # refused before any piece runs
            raise ValueError(f"{self.label()}: dropout > 0 in training is not supported (torch draws the "
                             f"self-attention's dropout mask where it cannot be shared); use dropout=0.0, or eval()")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            ff, kept = self._ff_block(self.norm2(x))
            y = x + ff
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            ff, kept = self._ff_block(x)
            y = self.norm2(x + ff)
        self.save_for_backward(kept, y.shape)
        return y

    def backward(self, grad_output):
        saved = self.saved_for_backward()
        kept, shape = saved
        try:
            check_grad_output(self, grad_output, shape)
        except ValueError:
            self.save_for_backward(*saved)  # a refused backward consumes nothing: a corrected retry works
            raise
        if self.norm_first:
            grad_x1 = grad_output + self.norm2.backward(self._ff_block_backward(grad_output, kept))
            return grad_x1 + self.norm1.backward(self._sa_block_backward(grad_x1))
        grad_1 = self.norm2.backward(grad_output)
        grad_x1 = self.norm1.backward(grad_1 + self._ff_block_backward(grad_1, kept))
        return grad_x1 + self._sa_block_backward(grad_x1)

    def extra_repr(self):
        return (f"d_model={self.linear1.in_features}, nhead={self.self_attn.num_heads}, "
                f"dim_feedforward={self.linear1.out_features}, dropout={self.dropout.p}, "
                f"activation={self.activation!r}, batch_first={self.self_attn.batch_first}, "
                f"norm_first={self.norm_first}")
