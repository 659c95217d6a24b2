"""The catalogue of single modules and losses, each with the inputs that exercise it (edges included), in
tables by family. What a case means and how it is checked: compare/catalogue/case_types.py (ModuleCase)."""

from typing import TypedDict

import numpy as np

from compare import registry
from compare.catalogue.attention_cases import ATTENTION_MODULE_CASES
from compare.catalogue.case_types import ModuleCase
from compare.catalogue.inputs import (
    affine_state,
    batch_norm_state,
    binary,
    class_indices,
    class_probabilities,
    indices,
    log_probabilities,
    normal,
    probabilities,
    tied,
    tied_maxout_state,
    uniform,
    with_values,
)

W4 = np.array([0.5, 2.0, 1.0, 0.25])
W3 = np.array([1.5, 0.5, 2.0])
ACTIVATION_CASES = [
    ModuleCase("identity", ("Identity", {}), normal(4, 6)),
    ModuleCase("relu", ("ReLU", {}), normal(4, 6)),
    ModuleCase("relu-at-zero", ("ReLU", {}), with_values(4, 6, values=[0.0, -0.0, 0.0]), gradcheck=False),
    ModuleCase("leaky_relu", ("LeakyReLU", {}), normal(4, 6)),
    ModuleCase("leaky_relu-0.1-at-zero", ("LeakyReLU", {"negative_slope": 0.1}),
               with_values(4, 6, values=[0.0, -0.0, 50.0, -50.0]), gradcheck=False),
    ModuleCase("elu", ("ELU", {}), normal(4, 6, scale=2)),
    ModuleCase("elu-at-zero", ("ELU", {}), with_values(4, 6, values=[0.0, -0.0, -30.0, 30.0]),  # C¹ at 0 for α = 1
               fd_eps=1e-6),
    ModuleCase("elu-alpha0.5-at-zero", ("ELU", {"alpha": 0.5}), with_values(4, 6, values=[0.0, -0.0, -30.0]),
               gradcheck=False),
    ModuleCase("selu", ("SELU", {}), normal(4, 6, scale=2)),
    ModuleCase("selu-at-zero", ("SELU", {}), with_values(4, 6, values=[0.0, -0.0, -30.0, 30.0]), gradcheck=False),
    ModuleCase("gelu", ("GELU", {}), with_values(4, 6, values=[0.0, -10.0, 10.0, -50.0, 50.0], scale=3)),
    ModuleCase("gelu_tanh", ("GELU", {"approximate": "tanh"}),
               with_values(4, 6, values=[0.0, -10.0, 10.0, -50.0, 50.0], scale=3)),
    ModuleCase("silu", ("SiLU", {}), with_values(4, 6, values=[0.0, -50.0, 50.0], scale=3)),
    ModuleCase("softplus", ("Softplus", {}), with_values(4, 6, values=[0.0, -50.0, 50.0], scale=3)),
    ModuleCase("softplus-beta2-thr5", ("Softplus", {"beta": 2.0, "threshold": 5.0}), normal(4, 6, scale=3)),
    ModuleCase("softplus-at-threshold", ("Softplus", {}), with_values(4, 6, values=[20.0, 20.0001, 19.9999, -1e4]),
               gradcheck=False),  # the switch to y = x at βx = 20 is a 2e-9 jump
    ModuleCase("sigmoid", ("Sigmoid", {}), normal(4, 6, scale=3)),
    ModuleCase("sigmoid-saturated", ("Sigmoid", {}), with_values(4, 6, values=[50.0, -50.0, 0.0])),
    ModuleCase("tanh", ("Tanh", {}), normal(4, 6, scale=2)),
    ModuleCase("tanh-saturated", ("Tanh", {}), with_values(4, 6, values=[50.0, -50.0, 0.0])),
    ModuleCase("softmax-dim1", ("Softmax", {"dim": 1}), normal(4, 6, scale=3)),
    ModuleCase("softmax-dim0", ("Softmax", {"dim": 0}), normal(4, 6)),
    ModuleCase("softmax-3d-dim1", ("Softmax", {"dim": 1}), normal(2, 3, 4)),
    ModuleCase("softmax-large-logits", ("Softmax", {"dim": -1}), with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4]),
               gradcheck=False),
    ModuleCase("log_softmax-dim1", ("LogSoftmax", {"dim": 1}), normal(4, 6, scale=3)),
    ModuleCase("log_softmax-3d-dim-1", ("LogSoftmax", {"dim": -1}), normal(2, 3, 4)),
    ModuleCase("log_softmax-large-logits", ("LogSoftmax", {"dim": 1}),
               with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4]), gradcheck=False),
]

LAYER_CASES = [
    ModuleCase("linear", ("Linear", {"in_features": 5, "out_features": 3}), normal(4, 5)),
    ModuleCase("linear-3d-nobias", ("Linear", {"in_features": 5, "out_features": 3, "bias": False}), normal(2, 4, 5)),
    ModuleCase("flatten", ("Flatten", {}), normal(2, 3, 4)),
    ModuleCase("flatten-dims0-1", ("Flatten", {"start_dim": 0, "end_dim": 1}), normal(2, 3, 4)),
    ModuleCase("maxout", ("Maxout", {"in_features": 5, "out_features": 3, "pieces": 2}), normal(4, 5)),
    ModuleCase("maxout-3pieces-3d", ("Maxout", {"in_features": 4, "out_features": 2, "pieces": 3}), normal(2, 3, 4)),
    ModuleCase("maxout-ties", ("Maxout", {"in_features": 5, "out_features": 3, "pieces": 2}),
               with_values(4, 5, values=[0.0] * 10), state=tied_maxout_state(5, 3, 2), gradcheck=False),
    ModuleCase("batchnorm-2d", ("BatchNorm1d", {"num_features": 4}), normal(8, 4, scale=2), state=batch_norm_state(4)),
    ModuleCase("batchnorm-3d", ("BatchNorm1d", {"num_features": 3}), normal(4, 3, 5, scale=2),
               state=batch_norm_state(3)),
    ModuleCase("batchnorm-momentum-none", ("BatchNorm1d", {"num_features": 3, "momentum": None}),
               normal(6, 3, scale=2), state=batch_norm_state(3, batches=4)),
    ModuleCase("batchnorm-eps-momentum-nobias", ("BatchNorm1d", {"num_features": 3, "eps": 1e-3, "momentum": 0.3,
                                                                 "bias": False}),
               normal(5, 3), state=lambda rng: {"weight": rng.standard_normal(3)}),
    ModuleCase("batchnorm-eval-2d", ("BatchNorm1d", {"num_features": 4}), normal(8, 4, scale=2),
               state=batch_norm_state(4), train=False),
    ModuleCase("batchnorm-eval-3d", ("BatchNorm1d", {"num_features": 3}), normal(4, 3, 5), state=batch_norm_state(3),
               train=False),
    ModuleCase("batchnorm-noaffine", ("BatchNorm1d", {"num_features": 4, "affine": False}), normal(8, 4)),
    ModuleCase("batchnorm-untracked", ("BatchNorm1d", {"num_features": 4, "track_running_stats": False}),
               normal(8, 4), state=batch_norm_state(4, tracked=False)),
    ModuleCase("batchnorm-untracked-eval", ("BatchNorm1d", {"num_features": 3, "track_running_stats": False}),
               normal(4, 3, 5), state=batch_norm_state(3, tracked=False), train=False),
    ModuleCase("dropout", ("Dropout", {"p": 0.3}), with_values(6, 8, values=[0.0] * 4)),
    ModuleCase("dropout-3d-p0.5", ("Dropout", {}), normal(2, 3, 4)),
    ModuleCase("dropout-p0", ("Dropout", {"p": 0.0}), normal(4, 5)),
    ModuleCase("dropout-p1", ("Dropout", {"p": 1.0}), normal(4, 5)),
    ModuleCase("dropout-eval", ("Dropout", {"p": 0.5}), normal(4, 5), train=False),
]

LOSS_CASES = [
    ModuleCase("l1", ("L1Loss", {}), normal(4, 3), normal(4, 3)),
    ModuleCase("l1-sum", ("L1Loss", {"reduction": "sum"}), normal(4, 3), normal(4, 3)),
    ModuleCase("l1-none", ("L1Loss", {"reduction": "none"}), normal(4, 3), normal(4, 3)),
    ModuleCase("l1-zero-residual", ("L1Loss", {}), with_values(4, 3, values=[0.5, -1.0, 0.0]),
               with_values(4, 3, values=[0.5, -1.0, 0.0]), gradcheck=False),
    ModuleCase("mse", ("MSELoss", {}), normal(4, 3), normal(4, 3)),
    ModuleCase("mse-sum", ("MSELoss", {"reduction": "sum"}), normal(4, 3), normal(4, 3)),
    ModuleCase("mse-none", ("MSELoss", {"reduction": "none"}), normal(4, 3), normal(4, 3)),
    ModuleCase("huber", ("HuberLoss", {}), normal(4, 3, scale=2), normal(4, 3)),
    ModuleCase("huber-delta0.5-sum", ("HuberLoss", {"delta": 0.5, "reduction": "sum"}), normal(4, 3), normal(4, 3)),
    ModuleCase("huber-none-at-delta", ("HuberLoss", {"reduction": "none"}),  # |d| = δ exactly: C¹ there
               with_values(4, 3, values=[1.0, -1.0, 0.0]), with_values(4, 3, values=[0.0, 0.0, 0.0]), fd_eps=1e-6),
    ModuleCase("smooth_l1", ("SmoothL1Loss", {}), normal(4, 3, scale=2), normal(4, 3)),
    ModuleCase("smooth_l1-beta0.5-none", ("SmoothL1Loss", {"beta": 0.5, "reduction": "none"}), normal(4, 3),
               normal(4, 3)),
    ModuleCase("smooth_l1-beta0-zero-residual", ("SmoothL1Loss", {"beta": 0.0}), with_values(4, 3, values=[0.5, 0.0]),
               with_values(4, 3, values=[0.5, 0.0]), gradcheck=False),
    ModuleCase("bce", ("BCELoss", {}), probabilities(6, 3), binary(6, 3)),
    ModuleCase("bce-weight-sum", ("BCELoss", {"weight": W3, "reduction": "sum"}), probabilities(6, 3), binary(6, 3)),
    ModuleCase("bce-none-soft-targets", ("BCELoss", {"reduction": "none"}), probabilities(6, 3), uniform(6, 3)),
    ModuleCase("bce-probabilities-0-and-1", ("BCELoss", {}), probabilities(6, 3, values=[0.0, 1.0, 0.0, 1.0]),
               binary(6, 3, values=[1.0, 1.0, 0.0, 0.0]), gradcheck=False),
    ModuleCase("bce_with_logits", ("BCEWithLogitsLoss", {}), normal(6, 3, scale=3), binary(6, 3)),
    ModuleCase("bce_with_logits-multilabel-weight-pos_weight",
               ("BCEWithLogitsLoss", {"weight": W3, "pos_weight": np.array([3.0, 0.5, 1.0])}),
               normal(6, 3, scale=2), binary(6, 3)),
    ModuleCase("bce_with_logits-none-soft", ("BCEWithLogitsLoss", {"reduction": "none", "pos_weight": W3}),
               normal(6, 3), uniform(6, 3)),
    ModuleCase("bce_with_logits-large-logits", ("BCEWithLogitsLoss", {"pos_weight": W3}),
               with_values(6, 3, values=[1e4, -1e4, 1e4, -1e4]), binary(6, 3, values=[1.0, 1.0, 0.0, 0.0]),
               gradcheck=False),
    ModuleCase("nll", ("NLLLoss", {}), log_probabilities(6, 4), class_indices(6, classes=4)),
    ModuleCase("nll-weight-ignore", ("NLLLoss", {"weight": W4, "ignore_index": 2}), log_probabilities(8, 4),
               class_indices(8, classes=4, ignore=2, ignored_share=0.2)),
    ModuleCase("nll-sum", ("NLLLoss", {"reduction": "sum"}), log_probabilities(6, 4), class_indices(6, classes=4)),
    ModuleCase("nll-none-weight-ignore", ("NLLLoss", {"reduction": "none", "weight": W4}), log_probabilities(6, 4),
               class_indices(6, classes=4, ignore=-100, ignored_share=0.3)),
    ModuleCase("nll-3d", ("NLLLoss", {"weight": W3}), log_probabilities(2, 3, 5), class_indices(2, 5, classes=3)),
    ModuleCase("nll-unbatched", ("NLLLoss", {}), log_probabilities(4), class_indices(classes=4)),
    ModuleCase("ce", ("CrossEntropyLoss", {}), normal(6, 4), class_indices(6, classes=4)),
    ModuleCase("ce-sum", ("CrossEntropyLoss", {"reduction": "sum"}), normal(6, 4), class_indices(6, classes=4)),
    ModuleCase("ce-none", ("CrossEntropyLoss", {"reduction": "none"}), normal(6, 4), class_indices(6, classes=4)),
    ModuleCase("ce-weight-ignore-smoothing", ("CrossEntropyLoss", {"weight": W4, "label_smoothing": 0.1}),
               normal(8, 4, scale=2), class_indices(8, classes=4, ignore=-100, ignored_share=0.2)),
    ModuleCase("ce-none-smoothing", ("CrossEntropyLoss", {"reduction": "none", "label_smoothing": 0.2}),
               normal(6, 4), class_indices(6, classes=4)),
    ModuleCase("ce-3d-weight", ("CrossEntropyLoss", {"weight": W3}), normal(2, 3, 5), class_indices(2, 5, classes=3)),
    ModuleCase("ce-3d", ("CrossEntropyLoss", {}), normal(2, 3, 5), class_indices(2, 5, classes=3)),
    ModuleCase("ce-ignore-in-range", ("CrossEntropyLoss", {"ignore_index": 1}), normal(8, 4),  # unweighted, ignored rows
               class_indices(8, classes=4, ignore=1, ignored_share=0.2)),
    ModuleCase("ce-none-ignore", ("CrossEntropyLoss", {"reduction": "none"}), normal(6, 4),
               class_indices(6, classes=4, ignore=-100, ignored_share=0.3)),
    ModuleCase("ce-unbatched", ("CrossEntropyLoss", {}), normal(4), class_indices(classes=4)),
    ModuleCase("ce-probability-targets", ("CrossEntropyLoss", {}), normal(6, 4), class_probabilities(6, 4)),
    ModuleCase("ce-probability-targets-weight-smoothing-sum",
               ("CrossEntropyLoss", {"weight": W4, "label_smoothing": 0.1, "reduction": "sum"}), normal(6, 4),
               class_probabilities(6, 4)),
    ModuleCase("ce-large-logits", ("CrossEntropyLoss", {}), with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4]),
               class_indices(3, classes=4), gradcheck=False),
    ModuleCase("ce-large-logits-smoothing", ("CrossEntropyLoss", {"label_smoothing": 0.1}),
               with_values(3, 4, values=[1e4, -1e4, 0.0, 1e4, -1e4]), class_indices(3, classes=4), gradcheck=False),
    ModuleCase("ce-all-ignored", ("CrossEntropyLoss", {}), normal(3, 4),  # loss NaN (0/0), gradient 0, as torch
               class_indices(3, classes=4, ignore=-100, ignored_share=1.0), gradcheck=False, finite=False),
]

# issue 13: BatchNorm2d, LayerNorm, Embedding (integer inputs: no input gradient, only weight's)
# Batch statistics tie every output of a channel to every input of it, so the rounding of L = Σ G ⊙ y reaches
# the finite differences' budget sooner (see "Step"): training cases use n = 12 values per channel and ε = 2e-5
# (measured worst errors 1.6e-7 and 1.7e-7; n = 24 at ε = 1e-5 reached 1.2e-6). Eval is linear in x: any size.
class _FiniteDifferenceStep(TypedDict):
    fd_eps: float


FD_BN: _FiniteDifferenceStep = {"fd_eps": 2e-5}
NORM_CASES = [
    ModuleCase("batchnorm2d", ("BatchNorm2d", {"num_features": 3}), normal(2, 3, 2, 3, scale=2),
               state=batch_norm_state(3), **FD_BN),
    ModuleCase("batchnorm2d-eval", ("BatchNorm2d", {"num_features": 3}), normal(2, 3, 4, 5, scale=2),
               state=batch_norm_state(3), train=False),
    ModuleCase("batchnorm2d-momentum-none", ("BatchNorm2d", {"num_features": 3, "momentum": None}),
               normal(2, 3, 2, 3), state=batch_norm_state(3, batches=4), **FD_BN),
    ModuleCase("batchnorm2d-eps-momentum-nobias", ("BatchNorm2d", {"num_features": 2, "eps": 1e-3, "momentum": 0.3,
                                                                   "bias": False}),
               normal(3, 2, 2, 2), state=lambda rng: {"weight": rng.standard_normal(2)}, **FD_BN),
    ModuleCase("batchnorm2d-noaffine", ("BatchNorm2d", {"num_features": 3, "affine": False}), normal(2, 3, 2, 3),
               **FD_BN),
    ModuleCase("batchnorm2d-noaffine-eval", ("BatchNorm2d", {"num_features": 3, "affine": False}),
               normal(2, 3, 4, 4), state=lambda rng: {"running_mean": rng.standard_normal(3),
                                                      "running_var": 0.5 + rng.random(3)}, train=False),
    ModuleCase("batchnorm2d-untracked", ("BatchNorm2d", {"num_features": 3, "track_running_stats": False}),
               normal(2, 3, 2, 3), state=batch_norm_state(3, tracked=False), **FD_BN),
    ModuleCase("batchnorm2d-untracked-eval", ("BatchNorm2d", {"num_features": 3, "track_running_stats": False}),
               normal(2, 3, 2, 3), state=batch_norm_state(3, tracked=False), train=False, **FD_BN),
    ModuleCase("batchnorm2d-one-sample-1x2", ("BatchNorm2d", {"num_features": 2}), normal(1, 2, 1, 2)),  # n = 2
    ModuleCase("layernorm", ("LayerNorm", {"normalized_shape": 5}), normal(4, 3, 5, scale=2), state=affine_state(5)),
    ModuleCase("layernorm-2d-input", ("LayerNorm", {"normalized_shape": 6}), normal(4, 6), state=affine_state(6)),
    ModuleCase("layernorm-tuple-2d-eps", ("LayerNorm", {"normalized_shape": (3, 4), "eps": 1e-3}),
               normal(2, 3, 4, scale=3), state=affine_state(3, 4)),
    ModuleCase("layernorm-tuple-all-dims", ("LayerNorm", {"normalized_shape": [2, 3, 4]}), normal(2, 3, 4),
               state=affine_state(2, 3, 4)),
    ModuleCase("layernorm-noaffine", ("LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}),
               normal(4, 3, 5, scale=2)),
    ModuleCase("layernorm-nobias", ("LayerNorm", {"normalized_shape": (2, 5), "bias": False}), normal(3, 2, 5),
               state=affine_state(2, 5, bias=False)),
    ModuleCase("layernorm-eval", ("LayerNorm", {"normalized_shape": 5}), normal(4, 5), state=affine_state(5),
               train=False),
    ModuleCase("embedding", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3}),
               indices(4, 5, num=6, values=[1, 1, 4, 1])),
    ModuleCase("embedding-1d-int32", ("Embedding", {"num_embeddings": 5, "embedding_dim": 4}),
               indices(7, num=5, values=[0, 4, 0], dtype=np.int32)),
    ModuleCase("embedding-0d", ("Embedding", {"num_embeddings": 5, "embedding_dim": 4}), lambda rng: np.array(3)),
    # padding_idx's zero gradient and scale_grad_by_freq's division are torch's rules, not derivatives: finite
    # differences would see the padding row's true derivative, so these are checked against torch only
    ModuleCase("embedding-3d-padding", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3, "padding_idx": 2}),
               indices(2, 3, 4, num=6, values=[2, 2, 5, 2]), gradcheck=False),
    ModuleCase("embedding-negative-padding", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3,
                                                            "padding_idx": -1}),
               indices(4, 5, num=6, values=[5, 0, 5]), gradcheck=False),
    ModuleCase("embedding-padding-trained-row", ("Embedding", {"num_embeddings": 4, "embedding_dim": 3,
                                                               "padding_idx": 0}),  # a non-zero padding row
               indices(3, 4, num=4, values=[0, 0, 3]), state=lambda rng: {"weight": rng.standard_normal((4, 3))},
               gradcheck=False),
    ModuleCase("embedding-scale_grad_by_freq", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3,
                                                              "scale_grad_by_freq": True, "padding_idx": 1}),
               indices(4, 5, num=6, values=[3, 3, 3, 1, 1]), gradcheck=False),
    # max_norm rescales the table in place inside the forward (no gradient through it), so finite differences
    # of the weights would see a different function: the output and dL/dW are checked against torch
    ModuleCase("embedding-max_norm", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3, "max_norm": 1.0}),
               indices(4, 5, num=6, values=[2, 2]), gradcheck=False),
    ModuleCase("embedding-max_norm-p1", ("Embedding", {"num_embeddings": 6, "embedding_dim": 3, "max_norm": 1.5,
                                                       "norm_type": 1.0}),
               indices(4, 5, num=6), gradcheck=False),
]

# Recurrent layers (issue 13): hx is the second argument (extra_inputs) where given; RNN returns (output, h_n) and
# LSTMCell (h', c'), each output with its own gradient. LSTMCell's hx is a tuple (h0, c0), which a flat argument
# list cannot pass to torch's LSTMCell, so LSTMCell with a given state is checked in tests/manual/test_recurrent.py.
RECURRENT_CASES = [
    ModuleCase("rnncell-tanh", ("RNNCell", {"input_size": 4, "hidden_size": 3}), normal(5, 4)),
    ModuleCase("rnncell-relu-h0", ("RNNCell", {"input_size": 4, "hidden_size": 3, "nonlinearity": "relu"}),
               normal(5, 4), extra_inputs=(normal(5, 3),)),
    ModuleCase("rnncell-unbatched-h0-nobias", ("RNNCell", {"input_size": 4, "hidden_size": 3, "bias": False}),
               normal(4), extra_inputs=(normal(3),)),
    ModuleCase("lstmcell", ("LSTMCell", {"input_size": 4, "hidden_size": 3}), normal(5, 4, scale=2)),
    ModuleCase("lstmcell-unbatched-nobias", ("LSTMCell", {"input_size": 4, "hidden_size": 3, "bias": False}),
               normal(4, scale=2)),
    ModuleCase("grucell", ("GRUCell", {"input_size": 4, "hidden_size": 3}), normal(5, 4, scale=2)),
    ModuleCase("grucell-h0", ("GRUCell", {"input_size": 4, "hidden_size": 3}), normal(5, 4),
               extra_inputs=(normal(5, 3),)),
    ModuleCase("grucell-unbatched-h0-nobias", ("GRUCell", {"input_size": 4, "hidden_size": 3, "bias": False}),
               normal(4), extra_inputs=(normal(3),)),
    ModuleCase("rnn-tanh", ("RNN", {"input_size": 4, "hidden_size": 3}), normal(6, 2, 4)),
    ModuleCase("rnn-relu-h0", ("RNN", {"input_size": 4, "hidden_size": 3, "nonlinearity": "relu"}), normal(6, 2, 4),
               extra_inputs=(normal(1, 2, 3),)),
    ModuleCase("rnn-batch_first-2layers-h0", ("RNN", {"input_size": 4, "hidden_size": 3, "num_layers": 2,
                                                      "batch_first": True}),
               normal(2, 6, 4), extra_inputs=(normal(2, 2, 3),)),
    ModuleCase("rnn-relu-2layers-nobias", ("RNN", {"input_size": 4, "hidden_size": 3, "num_layers": 2,
                                                   "nonlinearity": "relu", "bias": False}), normal(5, 3, 4)),
    ModuleCase("rnn-unbatched-h0", ("RNN", {"input_size": 4, "hidden_size": 3, "num_layers": 2}), normal(6, 4),
               extra_inputs=(normal(2, 3),)),
    ModuleCase("rnn-bidirectional-2layers-h0", ("RNN", {"input_size": 4, "hidden_size": 3, "num_layers": 2,
                                                        "bidirectional": True}),
               normal(5, 2, 4), extra_inputs=(normal(4, 2, 3),)),
    ModuleCase("rnn-tanh-long-saturated", ("RNN", {"input_size": 2, "hidden_size": 3}), normal(40, 2, 2, scale=4)),
]

CONV2D = {"in_channels": 4, "out_channels": 6, "kernel_size": 3}
CONV_CASES = [
    ModuleCase("conv2d", ("Conv2d", CONV2D), normal(2, 4, 6, 7)),
    ModuleCase("conv2d-unbatched", ("Conv2d", CONV2D), normal(4, 6, 7)),
    ModuleCase("conv2d-stride2-pad1", ("Conv2d", {**CONV2D, "stride": 2, "padding": 1}), normal(2, 4, 7, 8)),
    ModuleCase("conv2d-stride-tuple-pad-tuple", ("Conv2d", {**CONV2D, "stride": (2, 1), "padding": (0, 2)}),
               normal(2, 4, 6, 5)),
    ModuleCase("conv2d-same-rect-kernel-dilation", ("Conv2d", {**CONV2D, "kernel_size": (2, 3), "padding": "same",
                                                               "dilation": (1, 2)}), normal(2, 4, 5, 7)),
    ModuleCase("conv2d-same-even-kernel", ("Conv2d", {**CONV2D, "kernel_size": 4, "padding": "same"}),
               normal(1, 4, 6, 5)),
    ModuleCase("conv2d-valid-dilation2", ("Conv2d", {**CONV2D, "padding": "valid", "dilation": 2}),
               normal(2, 4, 7, 6)),
    ModuleCase("conv2d-groups2-nobias", ("Conv2d", {**CONV2D, "groups": 2, "bias": False, "padding": 1}),
               normal(1, 4, 5, 5)),
    ModuleCase("conv2d-depthwise-stride2", ("Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3,
                                                       "groups": 3, "stride": 2}), normal(2, 3, 7, 7)),
    ModuleCase("conv2d-1x1", ("Conv2d", {"in_channels": 5, "out_channels": 2, "kernel_size": 1}), normal(3, 5, 4, 4)),
    ModuleCase("conv1d", ("Conv1d", {"in_channels": 3, "out_channels": 5, "kernel_size": 3}), normal(2, 3, 9)),
    ModuleCase("conv1d-unbatched-same-dilation", ("Conv1d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3,
                                                             "padding": "same", "dilation": 2}), normal(3, 8)),
    ModuleCase("conv1d-stride2-pad2-groups-nobias", ("Conv1d", {"in_channels": 4, "out_channels": 6, "kernel_size": 4,
                                                                "stride": 2, "padding": 2, "groups": 2,
                                                                "bias": False}), normal(2, 4, 11)),
    ModuleCase("maxpool2d", ("MaxPool2d", {"kernel_size": 2}), normal(2, 3, 6, 6)),
    ModuleCase("maxpool2d-unbatched-k3-s2-p1", ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
               normal(3, 7, 7)),
    ModuleCase("maxpool2d-ceil-overlap", ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
               normal(2, 2, 6, 8)),
    ModuleCase("maxpool2d-ceil-pad-dilation-rect", ("MaxPool2d", {"kernel_size": (3, 2), "stride": (2, 3), "padding": 1,
                                                                  "dilation": 2, "ceil_mode": True}),
               normal(2, 2, 8, 9)),
    ModuleCase("maxpool2d-ties", ("MaxPool2d", {"kernel_size": 2}), tied(2, 3, 6, 6), gradcheck=False),
    ModuleCase("maxpool2d-ties-overlap-pad", ("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}),
               tied(2, 2, 5, 6), gradcheck=False),
    ModuleCase("avgpool2d", ("AvgPool2d", {"kernel_size": 2}), normal(2, 3, 6, 6)),
    ModuleCase("avgpool2d-unbatched-k3-s2-p1", ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
               normal(3, 7, 7)),
    ModuleCase("avgpool2d-ceil-exclude-pad", ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                                            "ceil_mode": True, "count_include_pad": False}),
               normal(2, 2, 6, 8)),
    ModuleCase("avgpool2d-ceil-include-pad-rect", ("AvgPool2d", {"kernel_size": (3, 2), "stride": (2, 3), "padding": 1,
                                                                 "ceil_mode": True}), normal(2, 2, 8, 9)),
    ModuleCase("avgpool2d-divisor-override", ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                                            "divisor_override": 4}), normal(2, 2, 7, 6)),
    ModuleCase("adaptive_avgpool2d", ("AdaptiveAvgPool2d", {"output_size": 3}), normal(2, 3, 7, 8)),
    ModuleCase("adaptive_avgpool2d-unbatched-tuple-none", ("AdaptiveAvgPool2d", {"output_size": (4, None)}),
               normal(3, 7, 5)),
    ModuleCase("adaptive_avgpool2d-upsample-1x1", ("AdaptiveAvgPool2d", {"output_size": (9, 1)}), normal(2, 2, 5, 6)),
]

MODULE_CASES = ACTIVATION_CASES + LAYER_CASES + LOSS_CASES + NORM_CASES + RECURRENT_CASES + CONV_CASES
MODULE_CASES += ATTENTION_MODULE_CASES  # issue 21: compare/catalogue/attention_cases.py
registry.reserve_builtin_names("module", [case.name for case in MODULE_CASES])


def select(only: str | None = None) -> list[ModuleCase]:
    """The catalogue and the cases user code registered (compare.registry.register_case), by name fragment."""
    return [case for case in MODULE_CASES + registry.module_cases() if only is None or only in case.name]
