"""Seeded batches: one NumPy generator makes each batch, and the same array goes to both backends."""
from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class Batches:
    """A stream of (X, y) batches for a task.

    kind: "regression" (y = X A + 0.1·noise, float, shape (batch, targets)),
          "classification" (y = argmax of X A + noise, int64 class indices in [0, targets)),
          "multilabel" (y in {0, 1}, shape (batch, targets), float: independent labels for sigmoid outputs),
          "tokens" (X: int64 token indices (batch, seq_len) from a vocabulary of `in_features`, each sequence
          1..seq_len tokens in [1, in_features) followed by padding 0s; y = argmax of the mean of its tokens'
          teacher scores A[token] + noise, int64 class indices in [0, targets)).
          "images" (classification of images: X of shape (batch, *image_shape), in_features = prod(image_shape)).
    The teacher A is drawn once from the run's seed, so the task is learnable and the same on both sides.
    """
    kind: str
    in_features: int
    targets: int
    batch_size: int = 16
    seq_len: int = 0  # "tokens" only
    image_shape: tuple | None = None  # kind "images": (C, H, W) of one image

    def __post_init__(self):
        if self.kind == "images" and self.image_shape is None:
            raise ValueError("Batches: kind 'images' needs image_shape (C, H, W)")

    def stream(self, seed: int, dtype):
        rng = np.random.default_rng(seed)
        teacher = rng.standard_normal((self.in_features, self.targets))
        if self.kind == "tokens":
            yield from self._tokens(rng, teacher)  # endless
            return
        while True:
            x = rng.standard_normal((self.batch_size, self.in_features))
            scores = x @ teacher + 0.1 * rng.standard_normal((self.batch_size, self.targets))
            if self.kind == "regression":
                y = scores.astype(dtype)
            elif self.kind in ("classification", "images"):
                y = scores.argmax(axis=1).astype(np.int64)
            elif self.kind == "multilabel":
                y = (scores > 0).astype(dtype)
            else:
                raise ValueError(f"Batches: unknown kind {self.kind!r}")
            if self.kind == "images" and self.image_shape is not None:  # __post_init__: images have a shape
                x = x.reshape((self.batch_size, *self.image_shape))
            yield x.astype(dtype), y

    def _tokens(self, rng, teacher):
        while True:
            x = rng.integers(1, self.in_features, size=(self.batch_size, self.seq_len))
            lengths = rng.integers(1, self.seq_len + 1, size=self.batch_size)
            x[np.arange(self.seq_len) >= lengths[:, None]] = 0  # padding after each sequence's length
            token_scores = np.where((x > 0)[..., None], teacher[x], 0.0)  # padding scores nothing
            scores = token_scores.sum(axis=1) / lengths[:, None] + 0.1 * rng.standard_normal((self.batch_size,
                                                                                               self.targets))
            yield x.astype(np.int64), scores.argmax(axis=1).astype(np.int64)


def load_text(name: str = "tiny_text.txt") -> str:
    """A text shipped in compare/data (package data): tiny_text.txt is a 2.6 KB passage written for this project."""
    return resources.files("compare").joinpath("data").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class TextWindows:
    """Windows of a shipped text for character-level models: (one-hot characters, the next characters).

    x (batch, seq_len, vocab_size) one-hot float of text[s : s + seq_len], y (batch, seq_len) int64 indices of
    text[s + 1 : s + seq_len + 1], the window starts s drawn uniformly from the run's seed. The vocabulary is the
    text's sorted set of characters (`vocab`), so index i is the i-th smallest character.
    """
    seq_len: int = 16
    batch_size: int = 8
    text: str = "tiny_text.txt"

    @property
    def vocab(self) -> str:
        return "".join(sorted(set(load_text(self.text))))

    def stream(self, seed: int, dtype):
        text, vocab = load_text(self.text), self.vocab
        codes = np.array([vocab.index(c) for c in text])
        one_hot = np.eye(len(vocab), dtype=dtype)
        rng = np.random.default_rng(seed)
        while True:
            starts = rng.integers(0, len(codes) - self.seq_len, size=self.batch_size)
            windows = codes[starts[:, None] + np.arange(self.seq_len + 1)]
            yield one_hot[windows[:, :-1]], windows[:, 1:].astype(np.int64)


@dataclass(frozen=True)
class SineSequences:
    """Noisy sine waves for sequence regression: predict the next value at every step.

    Each sample has its own frequency ω ~ U(0.2, 0.6) and phase φ ~ U(0, 2π); with v_t = sin(ω t + φ),
    x (batch, seq_len, 1) = v_0..v_{T-1} + 0.05·noise and y (batch, seq_len, 1) = v_1..v_T (clean).
    """
    seq_len: int = 12
    batch_size: int = 8

    def stream(self, seed: int, dtype):
        rng = np.random.default_rng(seed)
        steps = np.arange(self.seq_len + 1)
        while True:
            omega, phase = rng.uniform(0.2, 0.6, (self.batch_size, 1)), rng.uniform(0, 2 * np.pi, (self.batch_size, 1))
            values = np.sin(omega * steps + phase)
            x = values[:, :-1] + 0.05 * rng.standard_normal((self.batch_size, self.seq_len))
            yield x[..., None].astype(dtype), values[:, 1:, None].astype(dtype)
