"""Embedding layer: the table + a call into `functional.embedding` (lookup, scatter-add backward, renorm)."""
import numpy as np

from manual import random
from manual.nn import functional as F
from manual.nn._checks import check_grad_output, kept_on_refusal, resolve_dtype
from manual.nn.module import Module, Parameter

INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))  # torch's Long and Int


class Embedding(Module):
    """y = weight[input]: (*) integer indices -> (*, embedding_dim), as `torch.nn.Embedding(num_embeddings,
    embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False,
    dtype=None)`.

    weight: (num_embeddings, embedding_dim), init N(0, 1) with the padding_idx row set to 0. padding_idx may be
    negative (counted from the end, stored as num_embeddings + padding_idx, as torch); its row gets no gradient.
    Backward: dL/dW_k = Σ of G's rows at the positions holding k (duplicates accumulate), / count_k with
    scale_grad_by_freq; no gradient for the integer input, so `backward` returns None.
    max_norm: the forward first rescales, in place, each referenced row whose norm_type-norm exceeds max_norm
    to norm max_norm (torch's embedding_renorm_); the backward does not see this rescaling, as in torch.
    sparse=True (a sparse gradient tensor) is refused: manual has no sparse arrays; the dense gradient of
    sparse=False holds the same values.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, dtype=None):
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (a sparse gradient) is not supported; manual has no "
                                      "sparse arrays. sparse=False gives the same gradient values, dense.")
        if num_embeddings < 0 or embedding_dim < 0:  # torch: "Trying to create tensor with negative dimension"
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be non-negative, got "
                             f"({num_embeddings}, {embedding_dim})")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"[{-num_embeddings}, {num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        dtype = resolve_dtype(dtype)
        if _weight is None:
            weight = random.generator().standard_normal((num_embeddings, embedding_dim)).astype(dtype)
            if padding_idx is not None:
                weight[padding_idx] = 0
        else:
            weight = np.asarray(_weight, dtype=dtype)
            if weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({num_embeddings}, {embedding_dim}), "
                                 f"got {weight.shape}")
        self.weight = Parameter(weight)

    def _check_input(self, input):
        if not isinstance(input, np.ndarray) or input.dtype not in INDEX_DTYPES:
            given = f"dtype {input.dtype}" if isinstance(input, np.ndarray) else type(input).__name__
            raise TypeError(f"{self.label()}: expected integer indices (a numpy.ndarray of int64 or int32), "
                            f"got {given}")
        if input.size and not (0 <= input.min() and input.max() < self.num_embeddings):
            raise IndexError(f"{self.label()}: index out of range in self: indices must be in "
                             f"[0, {self.num_embeddings}), got values in [{input.min()}, {input.max()}]")

    def forward(self, input):
        self._check_input(input)
        self.save_for_backward(input)
        return F.embedding(input, self.weight.data, self.padding_idx, self.max_norm, self.norm_type)

    def backward(self, grad_output):
        (input,) = self.saved_for_backward()
        with kept_on_refusal(self, (input,)):
            grad_output = check_grad_output(self, grad_output, input.shape + (self.embedding_dim,), self.weight.dtype)
        self.accumulate_parameter_grads(weight=F.embedding_backward(
            grad_output, input, self.num_embeddings, self.padding_idx, self.scale_grad_by_freq))
        return None

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return text
