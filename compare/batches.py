"""Seeded batches: one NumPy generator makes each batch, and the same array goes to both backends."""
from dataclasses import dataclass

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
    The teacher A is drawn once from the run's seed, so the task is learnable and the same on both sides.
    """
    kind: str
    in_features: int
    targets: int
    batch_size: int = 16
    seq_len: int = 0  # "tokens" only

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
            elif self.kind == "classification":
                y = scores.argmax(axis=1).astype(np.int64)
            elif self.kind == "multilabel":
                y = (scores > 0).astype(dtype)
            else:
                raise ValueError(f"Batches: unknown kind {self.kind!r}")
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
