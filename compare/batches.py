"""Seeded batches: one NumPy generator makes each batch, and the same array goes to both backends."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batches:
    """A stream of (X, y) batches for a task.

    kind: "regression" (y = X A + 0.1·noise, float, shape (batch, targets)),
          "classification" (y = argmax of X A + noise, int64 class indices in [0, targets)),
          "multilabel" (y in {0, 1}, shape (batch, targets), float: independent labels for sigmoid outputs),
          "images" (classification of images: X of shape (batch, *image_shape), in_features = prod(image_shape)).
    The teacher A is drawn once from the run's seed, so the task is learnable and the same on both sides.
    """
    kind: str
    in_features: int
    targets: int
    batch_size: int = 16
    image_shape: tuple | None = None  # kind "images": (C, H, W) of one image

    def stream(self, seed: int, dtype):
        rng = np.random.default_rng(seed)
        teacher = rng.standard_normal((self.in_features, self.targets))
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
            if self.kind == "images":
                x = x.reshape((self.batch_size, *self.image_shape))
            yield x.astype(dtype), y
