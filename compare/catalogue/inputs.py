"""The input factories of module cases: each returns a function of one NumPy generator that makes an array (or a
state_dict override) in float64, edge values placed first where asked for."""
from __future__ import annotations

import numpy as np


def normal(*shape, scale=1.0):
    return lambda rng: scale * rng.standard_normal(shape)


def with_values(*shape, values, scale=1.0):
    """Random normals with the first entries set to the given edge values (zeros, kinks, large magnitudes)."""
    def make(rng):
        x = scale * rng.standard_normal(shape)
        x.flat[: len(values)] = values
        return x
    return make


def probabilities(*shape, values=()):
    """σ(normal) in (0, 1), the first entries set to `values` (e.g. exactly 0 and 1)."""
    def make(rng):
        p = 1 / (1 + np.exp(-2 * rng.standard_normal(shape)))
        p.flat[: len(values)] = values
        return p
    return make


def binary(*shape, values=()):
    def make(rng):
        y = (rng.random(shape) < 0.5).astype(np.float64)
        y.flat[: len(values)] = values
        return y
    return make


def uniform(*shape):
    return lambda rng: rng.random(shape)


def log_probabilities(*shape):
    """log_softmax over the class dim (1, or 0 unbatched) of normals: valid NLLLoss inputs."""
    def make(rng):
        x, dim = 2 * rng.standard_normal(shape), min(1, len(shape) - 1)
        shifted = x - x.max(axis=dim, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    return make


def class_probabilities(*shape):
    """Rows of a softmax over dim 1: probability targets for CrossEntropyLoss."""
    def make(rng):
        e = np.exp(rng.standard_normal(shape))
        return e / e.sum(axis=1, keepdims=True)
    return make


def class_indices(*shape, classes, ignore=None, ignored_share=0.0):
    """int64 targets in [0, classes); a share of them set to `ignore` (always the first one when > 0). Below a
    share of 1, one target at least is counted whatever the seed: were all ignored (an in-range `ignore` also
    ignores the targets drawn as that class), the last becomes another class, as a mean over none is 0/0."""
    def make(rng):
        y = rng.integers(0, classes, size=shape)
        if ignored_share > 0:
            y[rng.random(shape) < ignored_share] = ignore
            y.flat[0] = ignore
            if ignored_share < 1 and y.size > 1 and np.all(y == ignore):
                y.flat[-1] = (ignore + 1) % classes if 0 <= ignore < classes else 0
        return y
    return make


def batch_norm_state(channels, tracked=True, batches=0):
    """Non-trivial γ, β and running statistics, so eval mode and the buffer updates are really exercised."""
    def make(rng):
        state = {"weight": 1 + 0.5 * rng.standard_normal(channels), "bias": rng.standard_normal(channels)}
        if tracked:
            state.update(running_mean=rng.standard_normal(channels), running_var=0.5 + rng.random(channels),
                         num_batches_tracked=np.array(batches, dtype=np.int64))
        return state
    return make


def tied_maxout_state(in_features, out_features, pieces):
    """Every unit's pieces share one bias (zero input rows then tie exactly) and unit 0's pieces one weight row."""
    def make(rng):
        weight = rng.uniform(-0.5, 0.5, (out_features * pieces, in_features))
        weight[1:pieces] = weight[0]
        return {"weight": weight, "bias": np.repeat(rng.standard_normal(out_features), pieces)}
    return make


def affine_state(*shape, bias=True):
    """Non-trivial γ (and β) of a given shape (LayerNorm's normalized_shape), instead of torch's 1s and 0s."""
    def make(rng):
        state = {"weight": 1 + 0.5 * rng.standard_normal(shape)}
        return {**state, "bias": rng.standard_normal(shape)} if bias else state
    return make


def indices(*shape, num, values=(), dtype=np.int64):
    """Integer indices in [0, num) (Embedding inputs), the first entries set to `values` (repeats, padding)."""
    def make(rng):
        index = rng.integers(0, num, size=shape)
        index.flat[: len(values)] = values
        return index.astype(dtype)
    return make


def tied(*shape, levels=3):
    """Small integers: exact ties inside most pooling windows (torch's first-maximum rule decides the gradient)."""
    return lambda rng: rng.integers(0, levels, size=shape).astype(np.float64)
