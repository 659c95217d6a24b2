"""The course's models, built from manual.nn; `torch_ref.models` has the same classes, arguments and keys."""
import numbers
from collections.abc import Callable
from functools import partial

import numpy as np

from manual import nn
from manual.gpt import GPT  # noqa: F401  (in its own file, exported here)
from manual.nn.grad_mode import no_grad

# activation name -> module factory; the same names and arguments as torch_ref.models.ACTIVATIONS
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "identity": nn.Identity, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU,
    "gelu": nn.GELU, "gelu_tanh": partial(nn.GELU, approximate="tanh"), "silu": nn.SiLU, "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": partial(nn.Softmax, dim=-1),
    "log_softmax": partial(nn.LogSoftmax, dim=-1),
}
MLP_ACTIVATIONS = sorted([*ACTIVATIONS, "maxout"])


class LinearRegression(nn.Module):
    """O = X W_c + b (course) = x weightᵀ + bias (torch); state_dict keys `linear.weight`, `linear.bias`."""

    # subclasses: name of an optional module after the Linear (forward applies it, backward starts there)
    head: str | None = None

    def __init__(self, in_features: int, out_features: int = 1, dtype=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, dtype=dtype)

    def forward(self, input):
        z = self.linear(input)
        return self._modules[self.head](z) if self.head in self._modules else z

    def backward(self, grad_output):
        if self.head in self._modules:
            grad_output = self._modules[self.head].backward(grad_output)
        return self.linear.backward(grad_output)


class SoftmaxRegression(LinearRegression):
    """Logits O = x weightᵀ + bias for `num_classes` classes; the softmax lives in CrossEntropyLoss.

    log_softmax=True returns log_softmax(O) over the classes instead, for NLLLoss (LogSoftmax + NLLLoss =
    CrossEntropyLoss); backward is LogSoftmax's (g - softmax·Σg) and then Linear's. The state_dict keys stay.
    """

    head = "log_softmax"

    def __init__(self, in_features: int, num_classes: int, dtype=None, log_softmax: bool = False):
        super().__init__(in_features, num_classes, dtype=dtype)
        if log_softmax:
            self.log_softmax = nn.LogSoftmax(dim=1)


class LogisticRegression(LinearRegression):
    """Binary classifier with one logit z = x weightᵀ + bias, output (N, 1); keys `linear.weight`, `linear.bias`.

    sigmoid=False (default): returns the logit z, for BCEWithLogitsLoss (the numerically stable pairing).
    sigmoid=True: returns p = σ(z), for BCELoss; backward is σ's (g ⊙ p(1-p)) and then Linear's. Both give the
    same loss and gradients: BCE(σ(z), y) = BCEWithLogits(z, y), d/dz = p - y.
    """

    head = "sigmoid"

    def __init__(self, in_features: int, sigmoid: bool = False, dtype=None):
        super().__init__(in_features, 1, dtype=dtype)
        if sigmoid:
            self.sigmoid = nn.Sigmoid()


class MLP(nn.Sequential):
    """Hidden blocks, one per width in `hidden`, then a final Linear (logits / regression outputs).

    A block is Linear(width, h) [-> BatchNorm1d(h) if batch_norm] [-> LayerNorm(h) if layer_norm] -> activation
    [-> Dropout(dropout) if dropout > 0].
    activation="maxout" replaces Linear + activation by Maxout(width, h, pieces) (the norms and Dropout
    still follow it); `pieces` is used only then. Other names: see ACTIVATIONS. With batch_norm the hidden
    Linear layers have no bias: BatchNorm subtracts the batch mean, so a bias before it would get a gradient of
    exactly 0 (only rounding noise) and never train (Maxout keeps its bias: the max is not shift-invariant per piece).
    LayerNorm alone keeps the bias: it subtracts each sample's mean over the features, which removes only the
    mean of the bias vector, not the bias.
    `MLP(4, [6, 7], 3, activation="relu")` is Sequential(Linear(4,6), ReLU, Linear(6,7), ReLU, Linear(7,3)),
    `MLP(4, 6, 3)` (one width as an int) is MLP(4, [6], 3);
    state_dict keys `0.weight, 0.bias, 2.weight, ...`, the same as `torch_ref.models.MLP` for every option.
    """

    def __init__(self, in_features: int, hidden, out_features: int, activation: str = "relu", batch_norm: bool = False,
                 dropout: float = 0.0, pieces: int = 2, dtype=None, layer_norm: bool = False):
        if activation not in MLP_ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}, expected one of {MLP_ACTIVATIONS}")
        layers: list[nn.Module] = []
        width = in_features
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden  # MLP(10, 16, 3): one hidden layer
        for hidden_width in hidden:
            if activation == "maxout":
                layers.append(nn.Maxout(width, hidden_width, pieces, dtype=dtype))
            else:
                layers.append(nn.Linear(width, hidden_width, bias=not batch_norm, dtype=dtype))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_width, dtype=dtype))
            if layer_norm:
                layers.append(nn.LayerNorm(hidden_width, dtype=dtype))
            if activation != "maxout":
                layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_width
        super().__init__(*layers, nn.Linear(width, out_features, dtype=dtype))


class EmbeddingClassifier(nn.Module):
    """Token sequences (N, L) of indices in [0, num_embeddings) -> logits (N, num_classes): each token's vector
    (Embedding), their mean over the sequence (a bag of embeddings), then Linear.

    h = (1/L) Σ_t E[x_t];  logits = h weightᵀ + bias. Backward: dL/dh from Linear, then every position t gets
    dL/dE[x_t] = dL/dh / L, scatter-added into the table by Embedding (tokens repeated in a sequence or across
    the batch accumulate; padding_idx's row gets none). The indices get no gradient: backward returns None.
    Keys `embedding.weight` (num_embeddings, embedding_dim), `linear.weight`, `linear.bias`, as
    `torch_ref.models.EmbeddingClassifier`.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, num_classes: int, padding_idx: int | None = None,
                 dtype=None):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, padding_idx, dtype=dtype)
        self.linear = nn.Linear(embedding_dim, num_classes, dtype=dtype)

    def forward(self, input):
        if np.ndim(input) != 2:
            raise ValueError(f"{type(self).__name__}: expected token indices of shape (N, L), got {np.shape(input)}")
        vectors = self.embedding(input)
        self.save_for_backward(vectors.shape)
        return self.linear(vectors.mean(axis=1))

    def backward(self, grad_output):
        (shape,) = self.saved_for_backward()
        grad_mean = self.linear.backward(grad_output)
        return self.embedding.backward(np.broadcast_to(grad_mean[:, None, :] / shape[1], shape))


class Perceptron(nn.Module):
    """Rosenblatt's perceptron: ŷ = sign(x·weightᵀ + bias) ∈ {-1, +1}, with sign(0) = +1 (ŷ = +1 iff score ≥ 0).

    Trained by its own rule, not by gradient descent (sign is flat almost everywhere, so `backward` raises).
    `update(x, y, lr)` applies, for a batch x (N, in_features) with labels y ∈ {-1, +1}^N,
        weight ← weight + lr · Σ_i (y_i - ŷ_i) x_i,     bias ← bias + lr · Σ_i (y_i - ŷ_i)
    where y_i - ŷ_i is 0 for a correct sample and ±2 for a mistake; batches of one sample give the classic
    online rule, which `fit` runs epoch by epoch. On linearly separable data (margin γ, |x| ≤ R) the online
    rule makes at most (R/γ)² mistakes (Novikoff) and stops; on XOR it never does.
    Keys `linear.weight` (1, in_features) and `linear.bias` (1,), as `torch_ref.models.Perceptron`.
    """

    def __init__(self, in_features: int, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.linear = nn.Linear(in_features, 1, dtype=dtype)

    def forward(self, input):
        with no_grad():  # no backward will follow (sign is flat): keep nothing, lock nothing
            scores = self.linear(input)[..., 0]
        return np.where(scores >= 0, 1, -1).astype(scores.dtype)

    def backward(self, grad_output):
        raise RuntimeError(f"{self.label()}: the perceptron has no gradient (sign is flat); train it with update()")

    def update(self, x, y, lr: float = 1.0) -> int:
        """One application of the rule to the batch (x, y); returns how many of its samples were misclassified."""
        y_hat = self.forward(x)
        y = np.asarray(y)
        if y.shape != y_hat.shape or not np.isin(y, (-1, 1)).all():
            raise ValueError(f"{self.label()}: labels must be -1 or +1 with shape {y_hat.shape}, "
                             f"got shape {y.shape} with values {np.unique(y)[:5]}")
        delta = y.astype(y_hat.dtype) - y_hat
        self.linear.weight.data += lr * (delta @ x)
        self.linear.bias.data += lr * delta.sum()
        return int(np.count_nonzero(delta))

    def fit(self, x, y, lr: float = 1.0, epochs: int = 100) -> list[int]:
        """The online rule, samples in order, until an epoch without mistakes; returns mistakes per epoch."""
        mistakes = []
        for _ in range(epochs):
            mistakes.append(sum(self.update(x[i:i + 1], y[i:i + 1], lr) for i in range(len(x))))
            if mistakes[-1] == 0:
                break
        return mistakes

    def extra_repr(self):
        return f"in_features={self.in_features}"


def recurrent_layer(owner: str, cell: str, nonlinearity: str, *args, **kwargs) -> nn.Module:
    """nn.RNN (with `nonlinearity`), nn.LSTM or nn.GRU for cell "rnn", "lstm" or "gru" (as torch_ref's)."""
    layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    if cell not in layers:
        raise ValueError(f"{owner}: cell must be one of {sorted(layers)}, got {cell!r}")
    if cell != "rnn" and nonlinearity != "tanh":
        raise ValueError(f"{owner}: nonlinearity is an option of cell='rnn' only, got {nonlinearity!r} with "
                         f"cell={cell!r}")
    return layers[cell](*args, **({"nonlinearity": nonlinearity} if cell == "rnn" else {}), **kwargs)


class RNNRegression(nn.Module):
    """A sequence model: RNN (batch_first) -> Linear on every step. x (N, T, input_size) -> (N, T, out_features).

    h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh) (num_layers stacked), y_t = h_t W_decᵀ + b_dec; backward
    is Linear's on every step, then backprop through time (`manual.nn.functional.recurrent`). `cell` "lstm" or
    "gru" puts nn.LSTM or nn.GRU in the RNN's place. The initial state is zeros. Keys `rnn.weight_ih_l0, ...,
    decoder.weight, decoder.bias`, as `torch_ref.models.RNNRegression`.
    """

    def __init__(self, input_size: int, hidden_size: int, out_features: int = 1, num_layers: int = 1,
                 nonlinearity: str = "tanh", cell: str = "rnn", dtype=None):
        super().__init__()
        self.rnn = recurrent_layer(type(self).__name__, cell, nonlinearity, input_size, hidden_size, num_layers,
                                   batch_first=True, dtype=dtype)
        self.decoder = nn.Linear(hidden_size, out_features, dtype=dtype)

    def forward(self, input):
        hidden, _ = self.rnn(input)
        return self.decoder(hidden)

    def backward(self, grad_output):
        return self.rnn.backward(self.decoder.backward(grad_output))


class CharRNN(RNNRegression):
    """Character-level language model: one-hot characters x (N, T, vocab_size) -> RNN -> Linear on every step ->
    next-character logits (N, vocab_size, T), CrossEntropyLoss's (N, C, d1) layout, so the targets are the next
    characters' indices (N, T) (compare.batches.TextWindows makes both). The loss is the mean over all N·T
    predictions. Keys as RNNRegression's and `torch_ref.models.CharRNN`'s.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 cell: str = "rnn", dtype=None):
        super().__init__(vocab_size, hidden_size, vocab_size, num_layers, nonlinearity, cell, dtype=dtype)

    def forward(self, input):
        return super().forward(input).transpose(0, 2, 1)

    def backward(self, grad_output):
        return super().backward(grad_output.transpose(0, 2, 1))
def cnn_feature_size(image_size, channels, kernel_size: int) -> tuple[int, int]:
    """(H, W) after the conv blocks: each conv (padding k//2, stride 1) gives n + 2·(k//2) - k + 1, each pool ⌊n/2⌋."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    for _ in channels:
        height, width = ((n + 2 * (kernel_size // 2) - kernel_size + 1) // 2 for n in (height, width))
    return height, width


class CNN(nn.Sequential):
    """Conv blocks, then a linear classifier: [Conv2d(c_in, c, kernel_size, padding=kernel_size//2) -> ReLU ->
    MaxPool2d(2)] per width c in `channels`, then Flatten -> Linear(c_last·h·w, num_classes) (the logits).

    Input (N, in_channels, H, W) with (H, W) = image_size (an int for square images). `CNN(1, 8, 10)` on the
    8×8 digits: Conv2d(1, 8, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(8, 16, 3, padding=1), ReLU, MaxPool2d(2),
    Flatten, Linear(64, 10); keys `0.weight, 0.bias, 3.weight, 3.bias, 7.weight, 7.bias`, the same as
    `torch_ref.models.CNN` for every option.
    """

    def __init__(self, in_channels: int, image_size, num_classes: int, channels=(8, 16), kernel_size: int = 3,
                 dtype=None):
        height, width = cnn_feature_size(image_size, channels, kernel_size)
        if height < 1 or width < 1:
            raise ValueError(f"CNN: image_size {image_size} is too small for {len(channels)} conv blocks "
                             f"(kernel {kernel_size}, each pooling by 2)")
        layers, width_in = [], in_channels
        for width_out in channels:
            layers += [nn.Conv2d(width_in, width_out, kernel_size, padding=kernel_size // 2, dtype=dtype), nn.ReLU(),
                       nn.MaxPool2d(2)]
            width_in = width_out
        super().__init__(*layers, nn.Flatten(), nn.Linear(width_in * height * width, num_classes, dtype=dtype))
