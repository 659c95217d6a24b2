"""GPT: a small decoder-only character model from manual.nn (Embedding, TransformerEncoderLayer, LayerNorm,
Linear); `torch_ref.gpt.GPT` has the same arguments and state_dict keys. Exported by manual.models."""
import numpy as np

from manual import nn


class GPT(nn.Module):
    """Token indices (N, T) -> next-token logits (N, vocab_size, T) (CrossEntropyLoss's (N, C, d1) layout, as
    CharRNN), with T <= block_size:

        x₀ = token_embedding[idx] + position_embedding[0..T-1]                  (N, T, n_embd)
        x_b = block_b(x_{b-1}) for b = 1..n_layer, each a pre-norm TransformerEncoderLayer (norm_first=True,
              GELU MLP of width 4·n_embd, dropout 0) whose self-attention is causal: position t attends to 0..t
        logits = head(ln_f(x_L))

    Backward: the head, ln_f and the blocks (last first) by their own backward passes; then the embedding
    sum sends the same dL/dx₀ to both tables: dL/d token_embedding[k] = Σ over positions holding k, dL/d
    position_embedding[t] = Σ over the batch at position t. The indices get no gradient (backward returns None).
    bias (default False, nanoGPT's option) gives the blocks' Linear, attention and LayerNorm layers biases. They are
    off by default because one of them cannot train: the key projection's bias b_k adds q·b_k to every score of a
    query's row, and softmax ignores a constant added to a whole row, so dL/db_k = 0 exactly; its computed
    gradient is rounding noise (1e-17), different on the two backends, which Adam's m/√v turns into steps of
    lr-relative size (as with a Linear bias before BatchNorm, see MLP). ln_f and the head keep their biases.
    Keys: token_embedding.weight, position_embedding.weight, blocks.<b>.<TransformerEncoderLayer keys>,
    ln_f.weight/bias, head.weight/bias, as torch_ref.gpt.GPT.
    """

    def __init__(self, vocab_size: int, block_size: int, n_embd: int = 32, n_head: int = 4, n_layer: int = 2,
                 bias: bool = False, dtype=None):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, n_embd, dtype=dtype)
        self.position_embedding = nn.Embedding(block_size, n_embd, dtype=dtype)
        self.blocks = nn.Sequential(*[
            nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True, bias=bias, dtype=dtype) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, dtype=dtype)
        self.head = nn.Linear(n_embd, vocab_size, dtype=dtype)

    def causal_mask(self, length: int) -> np.ndarray:
        """(T, T) bool, True above the diagonal: torch's MultiheadAttention convention, True = may not attend."""
        return ~np.tri(length, dtype=np.bool_)

    def embed(self, input):
        """x₀ = token + position embeddings, (N, T, n_embd)."""
        if np.ndim(input) != 2 or not 0 < np.shape(input)[1] <= self.block_size:
            raise ValueError(f"{type(self).__name__}: expected token indices of shape (N, T) with "
                             f"1 <= T <= block_size={self.block_size}, got {np.shape(input)}")
        positions = np.arange(input.shape[1])
        return self.token_embedding(input) + self.position_embedding(positions)

    def forward(self, input):
        x = self.embed(input)
        mask = self.causal_mask(x.shape[1])
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.head(self.ln_f(x)).transpose(0, 2, 1)

    def backward(self, grad_output):
        grad = self.ln_f.backward(self.head.backward(grad_output.transpose(0, 2, 1)))
        for block in reversed(list(self.blocks)):
            grad = block.backward(grad)
        self.token_embedding.backward(grad)
        self.position_embedding.backward(grad.sum(axis=0))
        return None
