"""The math of every layer, activation and loss as plain functions: forward and its hand-derived backward.

Mirrors `torch.nn.functional` names (`relu`, `softmax`, `cross_entropy`, ...); each forward `f` has an
`f_backward(grad_output, <what the forward saved>)` beside it. Modules in `manual.nn` are thin wrappers.
"""
from manual.nn.functional.activation import *  # noqa: F401,F403
from manual.nn.functional.attention import *  # noqa: F401,F403
from manual.nn.functional.conv import *  # noqa: F401,F403
from manual.nn.functional.dropout import *  # noqa: F401,F403
from manual.nn.functional.embedding import *  # noqa: F401,F403
from manual.nn.functional.linear import *  # noqa: F401,F403
from manual.nn.functional.loss import *  # noqa: F401,F403
from manual.nn.functional.maxout import *  # noqa: F401,F403
from manual.nn.functional.nll import *  # noqa: F401,F403
from manual.nn.functional.normalization import *  # noqa: F401,F403
from manual.nn.functional.pooling import *  # noqa: F401,F403
from manual.nn.functional.recurrent import *  # noqa: F401,F403
from manual.nn.functional.recurrent_sequence import *  # noqa: F401,F403
from manual.nn.functional.softmax import *  # noqa: F401,F403
