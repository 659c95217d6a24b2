"""The training catalogue: each case names a model, a loss, an optimizer and a batch stream, once, for both
backends (compare/catalogue/case_types.py), in tables by topic."""

import numpy as np

from compare import registry
from compare.catalogue.attention_cases import GPT_CASES
from compare.catalogue.batches import Batches, SineSequences, TextWindows
from compare.catalogue.case_types import Case

REGRESSION = Batches("regression", in_features=5, targets=1, batch_size=16)
THREE_CLASSES = Batches("classification", in_features=4, targets=3, batch_size=16)
BINARY = Batches("multilabel", in_features=5, targets=1, batch_size=16)
THREE_LABELS = Batches("multilabel", in_features=4, targets=3, batch_size=16)
REGRESSION2 = Batches("regression", in_features=5, targets=2, batch_size=16)

BASE_CASES = [
    Case("linreg-mse-sgd", ("LinearRegression", {"in_features": 5}), ("MSELoss", {}), ("SGD", {"lr": 0.05}),
         REGRESSION),
    Case("softmaxreg-ce-sgd_momentum", ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
         ("CrossEntropyLoss", {}), ("SGD", {"lr": 0.1, "momentum": 0.9}), THREE_CLASSES),
    *[Case(f"mlp6-7_{act}-ce-sgd_nesterov_wd",
           ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": act}),
           ("CrossEntropyLoss", {}),
           ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}), THREE_CLASSES)
      for act in ("relu", "sigmoid", "tanh")],
]

# issue 3: every layer, activation and loss inside a trained model
SGD_MOMENTUM = ("SGD", {"lr": 0.1, "momentum": 0.9})
MORE_ACTIVATIONS = ("identity", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus", "softmax")
LAYER_CASES = [
    *[Case(f"mlp6-7_{act}-ce-sgd_nesterov_wd",
           ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": act}),
           ("CrossEntropyLoss", {}),
           ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}), THREE_CLASSES)
      for act in MORE_ACTIVATIONS],
    # log_softmax hidden units are unbounded below: with lr 0.1 + Nesterov this MLP diverges (loss 240 by step
    # 48) and the divergence amplifies rounding differences exponentially, so it trains with a smaller lr
    Case("mlp6-7_log_softmax-ce-sgd_nesterov_wd",
         ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": "log_softmax"}),
         ("CrossEntropyLoss", {}),
         ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}), THREE_CLASSES),
    Case("mlp6-7_maxout3-ce-sgd_mom",
         ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": "maxout", "pieces": 3}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES),
    Case("mlp8-8_relu_bn-ce-sgd_mom-train_then_eval",
         ("MLP", {"in_features": 4, "hidden": [8, 8], "out_features": 3, "batch_norm": True}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES, steps=40, eval_steps=5),
    Case("mlp16-16_relu_dropout0.25-ce-sgd_mom",
         ("MLP", {"in_features": 4, "hidden": [16, 16], "out_features": 3, "dropout": 0.25}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES, eval_steps=3),
    Case("mlp8x7_tanh_deep-ce-sgd_mom",
         ("MLP", {"in_features": 4, "hidden": [8] * 7, "out_features": 3, "activation": "tanh"}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES),
    Case("logreg_sigmoid-bce-sgd", ("LogisticRegression", {"in_features": 5, "sigmoid": True}), ("BCELoss", {}),
         ("SGD", {"lr": 0.5}), BINARY),
    Case("logreg-bcewithlogits-sgd", ("LogisticRegression", {"in_features": 5}), ("BCEWithLogitsLoss", {}),
         ("SGD", {"lr": 0.5}), BINARY),
    Case("mlp6_relu-softmax3-ce-sgd_mom", ("MLP", {"in_features": 4, "hidden": [6], "out_features": 3}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES),
    Case("mlp6_relu-sigmoid3_multilabel-bcewl-sgd_mom",
         ("MLP", {"in_features": 4, "hidden": [6], "out_features": 3}), ("BCEWithLogitsLoss", {}), SGD_MOMENTUM,
         THREE_LABELS),
    Case("mlp6_relu-sigmoid3_multilabel-bcewl_w-sgd_mom",
         ("MLP", {"in_features": 4, "hidden": [6], "out_features": 3}),
         ("BCEWithLogitsLoss", {"weight": np.array([1.0, 0.5, 2.0]), "pos_weight": np.array([2.0, 1.0, 0.5])}),
         SGD_MOMENTUM, THREE_LABELS),
    *[Case(f"mlp8_tanh-regression-{loss_name.lower()}-sgd_mom",
           ("MLP", {"in_features": 5, "hidden": [8], "out_features": 2, "activation": "tanh"}), (loss_name, kwargs),
           ("SGD", {"lr": 0.05, "momentum": 0.9}), REGRESSION2)
      for loss_name, kwargs in (("L1Loss", {}), ("MSELoss", {}), ("HuberLoss", {"delta": 0.5}),
                                ("SmoothL1Loss", {"beta": 0.5}))],
]
# Every optimizer x (softmax regression, MLP), 100 steps, with a scheduler and/or gradient clipping in most.
SOFTMAXREG = ("SoftmaxRegression", {"in_features": 4, "num_classes": 3})
MLP6_TANH = ("MLP", {"in_features": 4, "hidden": [6], "out_features": 3, "activation": "tanh"})
CE: tuple[str, dict[str, object]] = ("CrossEntropyLoss", {})


def _optim_case(name, model, optimizer, scheduler=None, clip=None) -> Case:
    return Case(f"optim-{name}", model, CE, optimizer, THREE_CLASSES, steps=100, scheduler=scheduler, clip=clip)


OPTIMIZER_CASES = [
    _optim_case("softmaxreg-ce-sgd_damp_wd-steplr", SOFTMAXREG,
                ("SGD", {"lr": 0.2, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}),
                scheduler=("StepLR", {"step_size": 30, "gamma": 0.5})),
    _optim_case("mlp6_tanh-ce-sgd_nesterov-clipnorm", MLP6_TANH,
                ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                clip=("clip_grad_norm_", {"max_norm": 0.5})),
    _optim_case("softmaxreg-ce-adagrad_decay_wd_init-explr", SOFTMAXREG,
                ("Adagrad", {"lr": 0.1, "lr_decay": 1e-3, "weight_decay": 1e-3, "initial_accumulator_value": 0.1}),
                scheduler=("ExponentialLR", {"gamma": 0.99})),
    _optim_case("mlp6_tanh-ce-adagrad-clipvalue", MLP6_TANH, ("Adagrad", {"lr": 0.05}),
                clip=("clip_grad_value_", {"clip_value": 0.1})),
    _optim_case("softmaxreg-ce-rmsprop_centered_momentum-cosine", SOFTMAXREG,
                ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True}),
                scheduler=("CosineAnnealingLR", {"T_max": 40, "eta_min": 1e-3})),
    _optim_case("mlp6_tanh-ce-rmsprop_wd-clipnorm_inf", MLP6_TANH,
                ("RMSprop", {"lr": 0.005, "weight_decay": 1e-3}),
                clip=("clip_grad_norm_", {"max_norm": 0.2, "norm_type": float("inf")})),
    _optim_case("softmaxreg-ce-adam_amsgrad-multisteplr", SOFTMAXREG,
                ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "amsgrad": True}),
                scheduler=("MultiStepLR", {"milestones": [20, 50, 50], "gamma": 0.5})),
    _optim_case("mlp6_tanh-ce-adam_l2-plateau-clipnorm", MLP6_TANH,
                ("Adam", {"lr": 0.02, "weight_decay": 1e-2}),
                scheduler=("ReduceLROnPlateau", {"factor": 0.5, "patience": 8}),
                clip=("clip_grad_norm_", {"max_norm": 0.3})),
    _optim_case("softmaxreg-ce-adamw-cosine", SOFTMAXREG, ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
                scheduler=("CosineAnnealingLR", {"T_max": 100})),
    _optim_case("mlp6_tanh-ce-adamw_amsgrad-steplr-clipnorm", MLP6_TANH,
                ("AdamW", {"lr": 0.02, "amsgrad": True}),
                scheduler=("StepLR", {"step_size": 25, "gamma": 0.5}), clip=("clip_grad_norm_", {"max_norm": 0.5})),
]

# issue 13: LayerNorm inside an MLP; Embedding in a bag-of-embeddings classifier on padded token sequences
# (integer inputs: no dL/d(input) on either side). BatchNorm2d has no training case yet: it belongs after a
# Conv2d, in a CNN (its module cases and torch's samples check it meanwhile).
TOKENS = Batches("tokens", in_features=12, targets=3, batch_size=16, seq_len=6)
NORM_CASES = [
    Case("mlp8-8_relu_ln-ce-sgd_mom-train_then_eval",
         ("MLP", {"in_features": 4, "hidden": [8, 8], "out_features": 3, "layer_norm": True}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, THREE_CLASSES, steps=40, eval_steps=3),
    Case("mlp8_tanh_ln_bn-regression-mse-adam",
         ("MLP", {"in_features": 5, "hidden": [8], "out_features": 2, "activation": "tanh", "layer_norm": True,
                  "batch_norm": True}), ("MSELoss", {}), ("Adam", {"lr": 0.01}), REGRESSION2),
    Case("embedclf12x5_pad0-ce-sgd_mom",
         ("EmbeddingClassifier", {"num_embeddings": 12, "embedding_dim": 5, "num_classes": 3, "padding_idx": 0}),
         ("CrossEntropyLoss", {}), SGD_MOMENTUM, TOKENS, eval_steps=2),
    Case("embedclf12x5-ce-adam",
         ("EmbeddingClassifier", {"num_embeddings": 12, "embedding_dim": 5, "num_classes": 3}),
         ("CrossEntropyLoss", {}), ("Adam", {"lr": 0.05}), TOKENS, steps=40),
]

# issue 13: recurrent models. CharRNN reads one-hot windows of the shipped text (compare/data/tiny_text.txt) and
# predicts the next character at every step (CrossEntropyLoss over (N, vocab, T)); RNNRegression predicts the
# next value of noisy sine waves at every step (MSELoss).
TEXT = TextWindows(seq_len=16, batch_size=8)
VOCAB_SIZE = len(TEXT.vocab)
RNN_CASES = [
    Case("charrnn32-ce-sgd_mom", ("CharRNN", {"vocab_size": VOCAB_SIZE, "hidden_size": 32}), CE,
         ("SGD", {"lr": 0.5, "momentum": 0.9}), TEXT, steps=40),
    Case("charrnn24x2_relu-ce-adam", ("CharRNN", {"vocab_size": VOCAB_SIZE, "hidden_size": 24, "num_layers": 2,
                                                  "nonlinearity": "relu"}), CE, ("Adam", {"lr": 0.01}), TEXT,
         steps=40),
    # clipping with SGD: Adam's first step lr·g/(|g| + eps) has slope lr·eps/(|g| + eps)² ≈ 1e4 at a gradient of
    # 1e-7 (one weight_hh element here), so float32 rounding of that gradient moved the parameter by 0.7 of atol
    Case("charrnn32-ce-sgd_nesterov-clipnorm", ("CharRNN", {"vocab_size": VOCAB_SIZE, "hidden_size": 32}), CE,
         ("SGD", {"lr": 0.5, "momentum": 0.9, "nesterov": True}), TEXT, steps=40,
         clip=("clip_grad_norm_", {"max_norm": 1.0})),
    Case("charlstm24-ce-sgd_mom", ("CharRNN", {"vocab_size": VOCAB_SIZE, "hidden_size": 24, "cell": "lstm"}), CE,
         ("SGD", {"lr": 0.5, "momentum": 0.9}), TEXT, steps=40),
    Case("chargru16x2-ce-adam", ("CharRNN", {"vocab_size": VOCAB_SIZE, "hidden_size": 16, "num_layers": 2,
                                              "cell": "gru"}), CE, ("Adam", {"lr": 0.01}), TEXT, steps=40),
    Case("rnnreg16-sine-mse-adam", ("RNNRegression", {"input_size": 1, "hidden_size": 16}), ("MSELoss", {}),
         ("Adam", {"lr": 0.01}), SineSequences(seq_len=12, batch_size=8), steps=40),
]

# issue 12: NLLLoss and the CrossEntropyLoss options (class weights, ignore_index, label smoothing), so that the
# catalogue alone catches a wrong NLL backward (CE with any of the options goes through it; plain CE does not).
# ignore_index names a real class, so every batch has ignored rows (about a third of them).
CLASS_WEIGHTS = np.array([1.0, 0.5, 2.0])
LOG_SOFTMAX_REG = ("SoftmaxRegression", {"in_features": 4, "num_classes": 3, "log_softmax": True})
NLL_CASES = [
    Case("softmaxreg_logsoftmax-nll-sgd_mom", LOG_SOFTMAX_REG, ("NLLLoss", {}), SGD_MOMENTUM, THREE_CLASSES),
    Case("softmaxreg_logsoftmax-nll_w_ignore-sgd_mom", LOG_SOFTMAX_REG,
         ("NLLLoss", {"weight": CLASS_WEIGHTS, "ignore_index": 1}), SGD_MOMENTUM, THREE_CLASSES),
    Case("softmaxreg-ce_w-sgd_mom", SOFTMAXREG, ("CrossEntropyLoss", {"weight": CLASS_WEIGHTS}), SGD_MOMENTUM,
         THREE_CLASSES),
    Case("softmaxreg-ce_ignore-sgd_mom", SOFTMAXREG, ("CrossEntropyLoss", {"ignore_index": 2}), SGD_MOMENTUM,
         THREE_CLASSES),
    Case("softmaxreg-ce_smooth0.2-sgd_mom", SOFTMAXREG, ("CrossEntropyLoss", {"label_smoothing": 0.2}),
         SGD_MOMENTUM, THREE_CLASSES),
    Case("mlp6_tanh-ce_w_ignore_smooth0.1-adam", MLP6_TANH,
         ("CrossEntropyLoss", {"weight": CLASS_WEIGHTS, "ignore_index": 0, "label_smoothing": 0.1}),
         ("Adam", {"lr": 0.02}), THREE_CLASSES),
]

# issue 13: the CNN (conv-relu-maxpool blocks, flatten, linear) on the digits' 8×8×1 and the course's 64×64×3 shape
DIGIT_IMAGES = Batches("images", in_features=64, targets=10, batch_size=16, image_shape=(1, 8, 8))
COLOUR_IMAGES = Batches("images", in_features=3 * 64 * 64, targets=10, batch_size=4, image_shape=(3, 64, 64))
CONV_CASES = [
    Case("cnn8-16_8x8x1-ce-sgd_mom", ("CNN", {"in_channels": 1, "image_size": 8, "num_classes": 10}),
         CE, SGD_MOMENTUM, DIGIT_IMAGES, steps=20),
    Case("cnn4-8_k5_8x8x1-ce-adam", ("CNN", {"in_channels": 1, "image_size": 8, "num_classes": 10,
                                            "channels": (4, 8), "kernel_size": 5}),
         CE, ("Adam", {"lr": 0.01}), DIGIT_IMAGES, steps=10),
    Case("cnn4-8_64x64x3-ce-sgd_mom", ("CNN", {"in_channels": 3, "image_size": 64, "num_classes": 10,
                                              "channels": (4, 8)}),
         CE, ("SGD", {"lr": 0.01, "momentum": 0.9}), COLOUR_IMAGES, steps=3),
]

CATALOGUE = BASE_CASES + LAYER_CASES + OPTIMIZER_CASES + NLL_CASES + NORM_CASES + RNN_CASES + CONV_CASES
CATALOGUE += GPT_CASES  # issue 21: compare/catalogue/attention_cases.py
registry.reserve_builtin_names("training", [case.name for case in CATALOGUE])


def select(only: str | None = None) -> list[Case]:
    """The catalogue and the cases user code registered (compare.registry.register_case), by name fragment."""
    return [case for case in CATALOGUE + registry.training_cases() if only is None or only in case.name]
