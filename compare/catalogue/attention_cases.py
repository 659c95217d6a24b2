"""Attention in the catalogues (issue 21): module cases for MultiheadAttention and TransformerEncoderLayer, and
training cases for the character-level GPT on the shipped text. Joined into module_cases.MODULE_CASES and
training_cases.CATALOGUE by one line each.

The module cases call the module with positional arguments only (compare/catalogue/case_types.py), so they
exercise the unmasked paths, the weights output and its gradient; masks, is_causal, need_weights=False and
per-head weights are compared with torch in tests/torch_samples/test_attention.py, and the causal mask in
training by the GPT cases (every block attends causally)."""
from dataclasses import dataclass

import numpy as np

from compare.catalogue.batches import TextWindows, load_text
from compare.catalogue.case_types import Case, ModuleCase
from compare.catalogue.inputs import normal

MHA = {"embed_dim": 6, "num_heads": 2}
TEL = {"d_model": 6, "nhead": 2, "dim_feedforward": 8, "dropout": 0.0}
ATTENTION_MODULE_CASES = [
    ModuleCase("mha-self-batch_first", ("MultiheadAttention", {**MHA, "batch_first": True}), normal(2, 4, 6),
               extra_inputs=(normal(2, 4, 6), normal(2, 4, 6))),
    ModuleCase("mha-cross-seq_first-kdim-vdim", ("MultiheadAttention", {"embed_dim": 6, "num_heads": 3, "kdim": 4,
                                                                        "vdim": 5}),
               normal(4, 2, 6), extra_inputs=(normal(3, 2, 4), normal(3, 2, 5))),
    ModuleCase("mha-unbatched-1head-nobias", ("MultiheadAttention", {"embed_dim": 4, "num_heads": 1, "bias": False}),
               normal(3, 4), extra_inputs=(normal(5, 4), normal(5, 4))),
    ModuleCase("mha-peaked-scores", ("MultiheadAttention", {**MHA, "batch_first": True}), normal(2, 3, 6, scale=4),
               extra_inputs=(normal(2, 5, 6, scale=4), normal(2, 5, 6))),
    ModuleCase("mha-dropout-eval", ("MultiheadAttention", {**MHA, "dropout": 0.5}), normal(3, 2, 6),
               extra_inputs=(normal(3, 2, 6), normal(3, 2, 6)), train=False),
    ModuleCase("transformer_encoder-post_norm-relu", ("TransformerEncoderLayer", TEL), normal(4, 2, 6)),
    ModuleCase("transformer_encoder-pre_norm-gelu-batch_first",
               ("TransformerEncoderLayer", {**TEL, "norm_first": True, "activation": "gelu", "batch_first": True}),
               normal(2, 4, 6)),
    ModuleCase("transformer_encoder-nobias-eps-unbatched",
               ("TransformerEncoderLayer", {**TEL, "bias": False, "layer_norm_eps": 1e-3}), normal(5, 6)),
    ModuleCase("transformer_encoder-dropout-eval", ("TransformerEncoderLayer", {**TEL, "dropout": 0.1}),
               normal(3, 2, 6), train=False),
]


@dataclass(frozen=True)
class TextTokens(TextWindows):
    """TextWindows' windows as character indices: x (batch, seq_len) int64, y (batch, seq_len) the next
    characters, for models that embed tokens (GPT) rather than read one-hot vectors."""

    def stream(self, seed: int, dtype):
        vocab = self.vocab
        codes = np.array([vocab.index(c) for c in load_text(self.text)])
        rng = np.random.default_rng(seed)
        while True:
            starts = rng.integers(0, len(codes) - self.seq_len, size=self.batch_size)
            windows = codes[starts[:, None] + np.arange(self.seq_len + 1)]
            yield windows[:, :-1].astype(np.int64), windows[:, 1:].astype(np.int64)


# The character-level GPT on the shipped text (compare/data/tiny_text.txt): AdamW with decoupled weight decay, a
# cosine schedule and gradient-norm clipping, as small transformers are trained. Every block's self-attention is
# causal, so the causal mask is exercised in forward and backward at every step.
# eps 1e-6 (torch's default is 1e-8): Adam's update lr·m/(√v + eps) has slope up to lr/eps in the gradient, where
# |g| ~ eps; with eps 1e-8 a weight whose gradient sums to ~1e-7 by cancellation turned a float32 rounding
# difference of 5e-10 in that gradient into 1.5e-6 in the parameter (gpt32x2, step 0: 4.2x the float32 bound,
# which pools torch's own error over the tensor, and few elements sit that close to eps). With eps 1e-6 the
# slope is flat (about lr/eps) for every |g| << eps, so torch's own error samples it and the bound holds.
TOKENS = TextTokens(seq_len=16, batch_size=8)
VOCAB_SIZE = len(TOKENS.vocab)
GPT_SMALL = {"vocab_size": VOCAB_SIZE, "block_size": 16, "n_embd": 32, "n_head": 4, "n_layer": 2}
CE: tuple[str, dict[str, object]] = ("CrossEntropyLoss", {})
GPT_CASES = [
    Case("gpt32x2-ce-adamw-cosine-clipnorm", ("GPT", GPT_SMALL), CE, ("AdamW", {"lr": 3e-3, "weight_decay": 0.1, "eps": 1e-6}),
         TOKENS, steps=40, scheduler=("CosineAnnealingLR", {"T_max": 40, "eta_min": 3e-4}),
         clip=("clip_grad_norm_", {"max_norm": 1.0})),
    Case("gpt16x1_2heads-ce-adamw_ams-cosine-clip",
         ("GPT", {**GPT_SMALL, "n_embd": 16, "n_head": 2, "n_layer": 1}), CE,
         ("AdamW", {"lr": 1e-2, "betas": (0.9, 0.95), "eps": 1e-6, "amsgrad": True}), TOKENS, steps=30,
         scheduler=("CosineAnnealingLR", {"T_max": 30}), clip=("clip_grad_norm_", {"max_norm": 0.5})),
]
