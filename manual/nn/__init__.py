"""manual.nn: torch.nn's modules with explicit forward and hand-derived backward passes (NumPy only)."""
from manual.nn import functional, utils
from manual.nn.activation import (
    ELU,
    GELU,
    SELU,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from manual.nn.attention import MultiheadAttention
from manual.nn.container import Sequential
from manual.nn.conv import Conv1d, Conv2d
from manual.nn.dropout import Dropout
from manual.nn.embedding import Embedding
from manual.nn.linear import Flatten, Linear
from manual.nn.loss import BCELoss, BCEWithLogitsLoss, HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from manual.nn.maxout import Maxout
from manual.nn.module import Module, Parameter
from manual.nn.nll_loss import CrossEntropyLoss, NLLLoss
from manual.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from manual.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from manual.nn.recurrent import GRUCell, LSTMCell, RNNCell
from manual.nn.rnn import GRU, LSTM, RNN
from manual.nn.transformer import TransformerEncoderLayer

__all__ = ["functional", "utils", "Module", "Parameter", "Sequential",
           "Linear", "Flatten", "Maxout", "BatchNorm1d", "Dropout",
           "Identity", "ReLU", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Softplus", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax",
           "L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
           "CrossEntropyLoss",
           "BatchNorm2d", "LayerNorm", "Embedding",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "MultiheadAttention", "TransformerEncoderLayer"]
