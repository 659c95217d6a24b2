"""Maxout: an affine map to out_features·pieces values, then the max over each group of `pieces`.

Layout: z = x Wᵀ + b with W (out_features·pieces, in_features); z is viewed as (*, out_features, pieces),
so rows j·pieces, ..., j·pieces + pieces - 1 of W (and entries of b) are the pieces of output unit j:
    y_j = max_k z_{j·pieces + k}
Backward: the max passes the gradient to the piece that won and 0 to the others,
    dL/dz_{j·pieces+k} = g_j if k = argmax_k' z_{j·pieces+k'} else 0,
then the affine backward of `functional.linear` (dL/dx = Gz W, dL/dW = Gzᵀ X, dL/db = Σ_rows Gz).
Ties: the FIRST maximal piece (lowest k) takes the whole gradient, as np.argmax and torch's `max(dim)`
(the CPU/CUDA kernels return the first maximal index; `amax` would instead split it evenly).
"""
import numpy as np

from manual.nn.functional.linear import linear, linear_backward


def maxout(x, weight, bias, pieces: int):
    """Returns (y of shape (*, out_features), winner index per unit (*, out_features)) ; the index is for backward."""
    z = linear(x, weight, bias)
    groups = z.reshape(z.shape[:-1] + (z.shape[-1] // pieces, pieces))
    winner = groups.argmax(axis=-1)
    return np.take_along_axis(groups, winner[..., None], axis=-1)[..., 0], winner


def maxout_backward(grad_output, x, weight, winner, pieces: int, has_bias: bool = True):
    """Returns (dL/dx, dL/dW, dL/db or None): the gradient routed to each group's winner, then linear's backward."""
    grad_groups = np.zeros(grad_output.shape + (pieces,), dtype=grad_output.dtype)
    np.put_along_axis(grad_groups, winner[..., None], grad_output[..., None], axis=-1)
    grad_z = grad_groups.reshape(grad_output.shape[:-1] + (grad_output.shape[-1] * pieces,))
    return linear_backward(grad_z, x, weight, has_bias)
