"""The shipped text (compare/data/tiny_text.txt) as a train/test split of character windows, for
`python -m compare train --model gpt`: the same TwinTrainer as the tabular datasets, on token indices.

The text's first (1 - test_share) of characters are for training, the rest for testing (contiguous, so no test
window overlaps a training one). A window is `block_size` characters x = text[s : s + T] and its targets are the
next characters y = text[s + 1 : s + T + 1], both int64 indices into the sorted vocabulary; windows start every
`stride` characters. Test metrics: the mean cross-entropy over every position of every test window, and the
share of next characters predicted (argmax) right.
"""
from __future__ import annotations

import numpy as np

from compare.catalogue.batches import load_text
from compare.realdata.training import Split


def vocabulary(name: str = "tiny_text.txt") -> str:
    return "".join(sorted(set(load_text(name))))


def _windows(codes: np.ndarray, block_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(0, len(codes) - block_size, stride)
    windows = codes[starts[:, None] + np.arange(block_size + 1)]
    return windows[:, :-1].astype(np.int64), windows[:, 1:].astype(np.int64)


def text_split(block_size: int, stride: int, test_share: float, name: str = "tiny_text.txt") -> Split:
    """Training and test windows of the text (see the module docstring); raises ValueError when a part is shorter
    than one window."""
    vocab, text = vocabulary(name), load_text(name)
    codes = np.array([vocab.index(c) for c in text])
    cut = int(round(len(codes) * (1 - test_share)))
    for part, size in (("training", cut), ("test", len(codes) - cut)):
        if size <= block_size:
            raise ValueError(f"{name}: its {part} part has {size} characters, fewer than a window of "
                             f"{block_size} + 1 (lower block_size or change --test-size)")
    X_train, y_train = _windows(codes[:cut], block_size, stride)
    X_test, y_test = _windows(codes[cut:], block_size, stride)
    return Split(X_train, y_train, X_test, y_test, y_test, None)
