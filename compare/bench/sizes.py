"""The bench's sizes: an MLP (`Size`), a CNN (`ConvSize`) or a GPT (`GPTSize`) with its batch, epoch length, rounds
and exact FLOPs per step, and which backends can run it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compare.catalogue.attention_cases import TextTokens
from compare.catalogue.batches import Batches
from compare.catalogue.case_types import Case

LR = 0.01


@dataclass(frozen=True)
class Size:
    name: str
    batch: int
    widths: tuple  # (in_features, hidden..., out_features)
    batches: int  # batches per epoch (one timing round)
    rounds: int
    gpu_only: bool = False
    sklearn: bool = True  # scikit-learn has this model (an MLP)

    @property
    def case(self) -> Case:
        return Case(f"bench-{self.name}", ("MLP", {"in_features": self.widths[0], "hidden": list(self.widths[1:-1]),
                                                    "out_features": self.widths[-1], "activation": "relu"}),
                    ("CrossEntropyLoss", {}), ("SGD", {"lr": LR}),
                    Batches("classification", self.widths[0], self.widths[-1], self.batch), steps=2)

    @property
    def flops(self) -> int:
        products = [2 * self.batch * d_in * d_out
                    for d_in, d_out in zip(self.widths[:-1], self.widths[1:], strict=True)]
        return 2 * sum(products) + sum(products[1:])  # forward + dW, then dX for all layers but the first

    def describe(self) -> str:
        return f"batch {self.batch}, {'-'.join(map(str, self.widths))}"


@dataclass(frozen=True)
class ConvSize:
    """A CNN size (`manual.models.CNN` / `torch_ref.models.CNN`) on random images; scikit-learn has no CNN.

    FLOPs per step (products only): each conv layer with output (O, Ho, Wo), C/g input channels per group and a
    k×k kernel costs 2·B·O·Ho·Wo·C/g·k² forward, the same for dW, and the same again for dX except in the first
    layer (data needs no gradient); the final Linear as an MLP layer. Pooling, ReLU and the loss are ignored.
    """
    name: str
    batch: int
    image: tuple  # (C, H, W)
    channels: tuple
    batches: int
    rounds: int
    kernel_size: int = 3
    classes: int = 10
    gpu_only: bool = False
    sklearn: bool = False

    @property
    def model(self) -> tuple:
        return ("CNN", {"in_channels": self.image[0], "image_size": self.image[1], "num_classes": self.classes,
                        "channels": self.channels, "kernel_size": self.kernel_size})

    @property
    def case(self) -> Case:
        return Case(f"bench-{self.name}", self.model, ("CrossEntropyLoss", {}), ("SGD", {"lr": LR}),
                    Batches("images", int(np.prod(self.image)), self.classes, self.batch, image_shape=self.image), steps=2)

    @property
    def flops(self) -> int:
        k, (c_in, size, _), total = self.kernel_size, self.image, 0
        for layer, c_out in enumerate(self.channels):
            size_out = size + 2 * (k // 2) - k + 1
            forward = 2 * self.batch * c_out * size_out ** 2 * c_in * k * k
            total += forward * (2 if layer == 0 else 3)
            c_in, size = c_out, size_out // 2
        return total + 2 * 2 * self.batch * c_in * size * size * self.classes

    def describe(self) -> str:
        return (f"batch {self.batch}, {'x'.join(map(str, self.image))} images, conv {'-'.join(map(str, self.channels))}"
                f" k{self.kernel_size}")


@dataclass(frozen=True)
class GPTSize:
    """The character-level GPT (`manual.models.GPT` / `torch_ref.models.GPT`) on windows of the shipped text;
    scikit-learn has no transformer.

    FLOPs per step (products only), per token and block, with E = n_embd, T = block_size: the q, k, v and output
    projections 2·4E², the MLP 2·8E², the scores Q Kᵀ and P V 2·2·T·E (all T×T, the causal half is not skipped);
    the head 2·E·V per token. The backward costs twice the forward (dW and dX of each product; the embeddings
    need dX of the first block). Softmax, LayerNorm, GELU and the loss are ignored.
    """
    name: str
    batch: int
    block_size: int
    n_embd: int
    n_head: int
    n_layer: int
    batches: int
    rounds: int
    gpu_only: bool = False
    sklearn: bool = False

    @property
    def case(self) -> Case:
        data = TextTokens(seq_len=self.block_size, batch_size=self.batch)
        return Case(f"bench-{self.name}", ("GPT", {"vocab_size": len(data.vocab), "block_size": self.block_size,
                                                   "n_embd": self.n_embd, "n_head": self.n_head,
                                                   "n_layer": self.n_layer}),
                    ("CrossEntropyLoss", {}), ("SGD", {"lr": LR}), data, steps=2)

    @property
    def flops(self) -> int:
        e, t, vocab = self.n_embd, self.block_size, len(TextTokens().vocab)
        per_token = self.n_layer * (2 * 12 * e * e + 2 * 2 * t * e) + 2 * e * vocab
        return 3 * self.batch * t * per_token

    def describe(self) -> str:
        return (f"batch {self.batch}, {self.block_size} characters, {self.n_layer} blocks of {self.n_embd} with "
                f"{self.n_head} heads")


BenchSize = Size | ConvSize | GPTSize
SIZES: dict[str, BenchSize] = {size.name: size for size in (
    Size("tiny", 1, (4, 4, 1), batches=400, rounds=10),
    Size("small", 32, (64, 64, 64, 10), batches=200, rounds=10),
    Size("medium", 256, (784, 256, 256, 10), batches=20, rounds=10),
    Size("large", 1024, (784, 1024, 1024, 10), batches=3, rounds=9),
    Size("gpu-xl", 8192, (4096, 4096, 4096, 10), batches=3, rounds=5, gpu_only=True),
    ConvSize("cnn", 32, (3, 64, 64), (8, 16), batches=4, rounds=5),
    GPTSize("gpt", 16, block_size=32, n_embd=32, n_head=4, n_layer=2, batches=10, rounds=5),
)}


DEFAULT_SIZES = ("tiny", "small", "medium", "large", "gpu-xl")


BACKENDS = ("manual", "torch-cpu", "torch-cuda", "scikit-learn")


ABSENT_BECAUSE = {"torch-cuda": "no CUDA device (torch.cuda.is_available() is False)",
                  "scikit-learn": "scikit-learn is not installed (the [sklearn] extra)"}


def runnable(size, backends: list[str]) -> list[str]:
    """The backends among `backends` that can run `size`: GPU-only sizes need torch-cuda, and scikit-learn has
    no model for the image sizes."""
    return [b for b in backends if (b == "torch-cuda" or not size.gpu_only) and (b != "scikit-learn" or size.sklearn)]


def skip_reason(size, backends: list[str], absent: Sequence[str] = ()) -> str:
    """Why no backend of `backends` runs `size`; `absent`: backends asked for but not present here."""
    if size.gpu_only:
        why = (f"torch-cuda is absent: {ABSENT_BECAUSE['torch-cuda']}" if "torch-cuda" in absent
               else "torch-cuda is not among the backends asked for")
        return "a GPU-only size, and " + why
    return f"no backend for it among {', '.join(backends)} (scikit-learn has no model for image sizes)"
