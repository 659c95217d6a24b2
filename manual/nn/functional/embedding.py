"""Embedding: a lookup table, y[..., :] = W[i] for each index i of an integer array.

Forward: y = W[input], shape (*input.shape, embedding_dim). As a matrix product it is y = onehot(input) W,
so the backward is dL/dW = onehot(input)ᵀ G: each occurrence of index k adds its row of G to row k of dL/dW,
    dL/dW_k = Σ_{positions p with input_p = k} G_p
(an index that appears twice receives both rows: a scatter-add, `np.add.at`, in the order of the flattened
input, as torch's CPU kernel adds them). Indices are integers, so there is no dL/d(input).
padding_idx: occurrences of that index add nothing (its row stays at its value: a fixed padding vector).
scale_grad_by_freq: each occurrence of k adds G_p / count_k, count_k = its occurrences in this input.
max_norm (torch's `embedding_renorm_`, done in the forward, before the lookup, without gradient): every row
referenced by the input whose norm_type-norm exceeds max_norm is scaled IN PLACE by max_norm / (norm + 1e-7).
"""
import numpy as np

__all__ = ["embedding", "embedding_backward", "embedding_renorm_"]


def embedding_renorm_(weight, indices, max_norm: float, norm_type: float = 2.0):
    """Rows of `weight` referenced by `indices` with norm > max_norm scaled to norm max_norm (in place)."""
    rows = np.unique(indices)
    norms = np.linalg.norm(weight[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    scale = (max_norm / (norms[over] + 1e-7)).astype(weight.dtype)  # torch: a double, multiplied in weight's dtype
    weight[rows[over]] *= scale[:, None]
    return weight


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0):
    """W[input], after renormalising the referenced rows in place when max_norm is given (`padding_idx` only
    matters to the backward; accepted here as in torch's signature)."""
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    return np.take(weight, input, axis=0)  # a copy, also for a 0-d index


def embedding_backward(grad_output, input, num_embeddings: int, padding_idx=None, scale_grad_by_freq: bool = False):
    """dL/dW of shape (num_embeddings, embedding_dim): the rows of G scatter-added at their indices."""
    indices = input.reshape(-1)
    grad = grad_output.reshape(indices.size, grad_output.shape[-1])
    if padding_idx is not None:
        keep = indices != padding_idx
        indices, grad = indices[keep], grad[keep]
    if scale_grad_by_freq:
        counts = np.bincount(indices, minlength=num_embeddings)
        grad = grad * (1.0 / counts[indices]).astype(grad.dtype)[:, None]
    grad_weight = np.zeros((num_embeddings, grad_output.shape[-1]), dtype=grad_output.dtype)
    np.add.at(grad_weight, indices, grad)
    return grad_weight
