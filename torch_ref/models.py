"""The same model classes as manual.models, as torch.nn.Modules on any device and dtype."""
import numbers
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from torch_ref.gpt import GPT  # noqa: F401  (in its own file, exported here)
from torch_ref.nn import Maxout

# activation name -> module factory; the same names and arguments as manual.models.ACTIVATIONS
ACTIVATIONS: dict[str, Callable[..., nn.Module]] = {
    "identity": nn.Identity, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU,
    "gelu": nn.GELU, "gelu_tanh": partial(nn.GELU, approximate="tanh"), "silu": nn.SiLU, "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": partial(nn.Softmax, dim=-1),
    "log_softmax": partial(nn.LogSoftmax, dim=-1),
}
MLP_ACTIVATIONS = sorted([*ACTIVATIONS, "maxout"])


class LinearRegression(nn.Module):
    """O = x weightᵀ + bias; state_dict keys `linear.weight`, `linear.bias`."""

    def __init__(self, in_features: int, out_features: int = 1, device=None, dtype=None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SoftmaxRegression(LinearRegression):
    """Logits for `num_classes` classes; pair with nn.CrossEntropyLoss. log_softmax=True returns
    log_softmax(logits) over the classes instead, for nn.NLLLoss."""

    def __init__(self, in_features: int, num_classes: int, device=None, dtype=None, log_softmax: bool = False):
        super().__init__(in_features, num_classes, device=device, dtype=dtype)
        if log_softmax:
            self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return self.log_softmax(z) if "log_softmax" in self._modules else z


class LogisticRegression(LinearRegression):
    """One logit (N, 1); sigmoid=True returns σ(logit) for nn.BCELoss, else the logit for nn.BCEWithLogitsLoss."""

    def __init__(self, in_features: int, sigmoid: bool = False, device=None, dtype=None):
        super().__init__(in_features, 1, device=device, dtype=dtype)
        if sigmoid:
            self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return self.sigmoid(z) if "sigmoid" in self._modules else z


class MLP(nn.Sequential):
    """Blocks Linear [-> BatchNorm1d] [-> LayerNorm] -> activation [-> Dropout] per hidden width (Maxout replaces
    Linear + activation for activation="maxout"), then a final Linear; keys as manual.models.MLP for every option.
    With batch_norm the hidden Linear layers have no bias (BatchNorm subtracts the mean; see manual.models.MLP)."""

    def __init__(self, in_features: int, hidden, out_features: int, activation: str = "relu", batch_norm: bool = False,
                 dropout: float = 0.0, pieces: int = 2, device=None, dtype=None, layer_norm: bool = False):
        if activation not in MLP_ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}, expected one of {MLP_ACTIVATIONS}")
        factory = {"device": device, "dtype": dtype}
        layers: list[nn.Module] = []
        width = in_features
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden  # MLP(10, 16, 3): one hidden layer
        for hidden_width in hidden:
            if activation == "maxout":
                layers.append(Maxout(width, hidden_width, pieces, **factory))
            else:
                layers.append(nn.Linear(width, hidden_width, bias=not batch_norm, **factory))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_width, **factory))
            if layer_norm:
                layers.append(nn.LayerNorm(hidden_width, **factory))
            if activation != "maxout":
                layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_width
        super().__init__(*layers, nn.Linear(width, out_features, **factory))


class EmbeddingClassifier(nn.Module):
    """Token indices (N, L) -> Embedding -> mean over the sequence -> Linear logits; keys `embedding.weight`,
    `linear.weight`, `linear.bias`, as manual.models.EmbeddingClassifier."""

    def __init__(self, num_embeddings: int, embedding_dim: int, num_classes: int, padding_idx: int | None = None,
                 device=None, dtype=None):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, padding_idx, device=device, dtype=dtype)
        self.linear = nn.Linear(embedding_dim, num_classes, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.embedding(x).mean(dim=1))


class Perceptron(nn.Module):
    """Rosenblatt's perceptron: ŷ = sign(x·weightᵀ + bias) ∈ {-1, +1}, sign(0) = +1; keys `linear.weight`,
    `linear.bias`. Trained by `update`/`fit` (the rule in manual.models.Perceptron), with torch ops under
    no_grad: the rule needs no gradient, and none is recorded.
    """

    def __init__(self, in_features: int, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.linear = nn.Linear(in_features, 1, device=device, dtype=dtype)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.linear(x)[..., 0]
        return torch.where(scores >= 0, 1.0, -1.0).to(scores.dtype)

    @torch.no_grad()
    def update(self, x: torch.Tensor, y: torch.Tensor, lr: float = 1.0) -> int:
        """weight += lr·Σ_i (y_i - ŷ_i) x_i, bias += lr·Σ_i (y_i - ŷ_i); returns the batch's mistakes."""
        y_hat = self.forward(x)
        if y.shape != y_hat.shape or not torch.isin(y, torch.tensor([-1, 1], device=y.device)).all():
            raise ValueError(f"Perceptron: labels must be -1 or +1 with shape {tuple(y_hat.shape)}, "
                             f"got shape {tuple(y.shape)}")
        delta = y.to(y_hat.dtype) - y_hat
        self.linear.weight += lr * (delta @ x)
        self.linear.bias.add_(lr * delta.sum())
        return int(torch.count_nonzero(delta))

    def fit(self, x: torch.Tensor, y: torch.Tensor, lr: float = 1.0, epochs: int = 100) -> list[int]:
        """The online rule, samples in order, until an epoch without mistakes; returns mistakes per epoch."""
        mistakes = []
        for _ in range(epochs):
            mistakes.append(sum(self.update(x[i:i + 1], y[i:i + 1], lr) for i in range(len(x))))
            if mistakes[-1] == 0:
                break
        return mistakes


class RNNRegression(nn.Module):
    """nn.RNN (batch_first; nn.LSTM or nn.GRU for `cell` "lstm" or "gru") -> nn.Linear on every step:
    (N, T, input_size) -> (N, T, out_features), zero initial state; arguments and keys as
    manual.models.RNNRegression."""

    def __init__(self, input_size: int, hidden_size: int, out_features: int = 1, num_layers: int = 1,
                 nonlinearity: str = "tanh", cell: str = "rnn", device=None, dtype=None):
        super().__init__()
        layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in layers:
            raise ValueError(f"{type(self).__name__}: cell must be one of {sorted(layers)}, got {cell!r}")
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"{type(self).__name__}: nonlinearity is an option of cell='rnn' only, got "
                             f"{nonlinearity!r} with cell={cell!r}")
        self.rnn = layers[cell](input_size, hidden_size, num_layers, batch_first=True, device=device, dtype=dtype,
                                **({"nonlinearity": nonlinearity} if cell == "rnn" else {}))
        self.decoder = nn.Linear(hidden_size, out_features, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(x)
        return self.decoder(hidden)


class CharRNN(RNNRegression):
    """One-hot characters (N, T, vocab_size) -> next-character logits (N, vocab_size, T) for nn.CrossEntropyLoss
    with targets (N, T); keys as manual.models.CharRNN."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 cell: str = "rnn", device=None, dtype=None):
        super().__init__(vocab_size, hidden_size, vocab_size, num_layers, nonlinearity, cell, device=device,
                         dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).transpose(1, 2)
class CNN(nn.Sequential):
    """[Conv2d(c_in, c, kernel_size, padding=kernel_size//2) -> ReLU -> MaxPool2d(2)] per width in `channels`, then
    Flatten -> Linear (logits); arguments and state_dict keys as manual.models.CNN."""

    def __init__(self, in_channels: int, image_size, num_classes: int, channels=(8, 16), kernel_size: int = 3,
                 device=None, dtype=None):
        factory = {"device": device, "dtype": dtype}
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        layers, width_in = [], in_channels
        for width_out in channels:
            layers += [nn.Conv2d(width_in, width_out, kernel_size, padding=kernel_size // 2, **factory), nn.ReLU(),
                       nn.MaxPool2d(2)]
            height, width = ((n + 2 * (kernel_size // 2) - kernel_size + 1) // 2 for n in (height, width))
            width_in = width_out
        if height < 1 or width < 1:
            raise ValueError(f"CNN: image_size {image_size} is too small for {len(channels)} conv blocks")
        super().__init__(*layers, nn.Flatten(), nn.Linear(width_in * height * width, num_classes, **factory))
