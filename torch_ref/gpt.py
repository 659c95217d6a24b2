"""GPT as a torch.nn.Module: the arguments, layers and state_dict keys of manual.gpt.GPT. Exported by
torch_ref.models."""
import torch
from torch import nn


class GPT(nn.Module):
    """Token indices (N, T) -> logits (N, vocab_size, T): token + position embeddings, n_layer pre-norm
    nn.TransformerEncoderLayer blocks (GELU MLP of width 4·n_embd, dropout 0) with causal self-attention, a final
    LayerNorm and a linear head; bias=True gives the blocks biases (why they are off by default, and the
    equations: manual.gpt.GPT)."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int = 32, n_head: int = 4, n_layer: int = 2,
                 bias: bool = False, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab_size, n_embd, **factory)
        self.position_embedding = nn.Embedding(block_size, n_embd, **factory)
        self.blocks = nn.Sequential(*[
            nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True, bias=bias, **factory) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, **factory)
        self.head = nn.Linear(n_embd, vocab_size, **factory)

    def causal_mask(self, length: int, device=None) -> torch.Tensor:
        """(T, T) bool, True above the diagonal (may not attend)."""
        return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or not 0 < x.shape[1] <= self.block_size:
            raise ValueError(f"GPT: expected token indices of shape (N, T) with 1 <= T <= block_size="
                             f"{self.block_size}, got {tuple(x.shape)}")
        return self.token_embedding(x) + self.position_embedding(torch.arange(x.shape[1], device=x.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        mask = self.causal_mask(h.shape[1], h.device)
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)
        return self.head(self.ln_f(h)).transpose(1, 2)
