"""The peer baseline: scikit-learn's MLPClassifier / MLPRegressor on the same split, with a comparable recipe.

Same standardised rows, hidden widths, activation, solver (SGD or Adam, with the torch optimizer's lr,
momentum/betas/eps), batch size and number of epochs; no L2 penalty (alpha=0) and no early stopping (it runs
every epoch). It is a peer, not a twin: its initialisation (Glorot), its shuffling and, for regression, its
half-squared-error loss (half the gradient of MSELoss) differ, so its numbers are expected to be close to the
twins' in quality, not equal. Optimizers scikit-learn lacks (RMSprop, Adagrad, AdamW) have no peer (None), nor
does a fit scikit-learn refuses (a momentum above 1, which torch's SGD takes) or gives up (its weights turned
non-finite: a learning rate that diverges, where the twins diverge alike).
The test metrics are computed exactly as for the twins (`compare.realdata.training.metrics`): the loss column is
cross-entropy from predict_proba (classification) or MSE on the standardised target (regression), and None
when the twins train another loss (e.g. MSELoss on a binary task), which it would not be comparable with.
"""
from __future__ import annotations

import warnings

import numpy as np

from compare.realdata.training import Recipe, Split, metrics

SOLVERS = {"SGD": "sgd", "Adam": "adam"}
# the twins' losses that scikit-learn's MLP losses measure too (log-loss = CE/BCE of its probabilities)
COMPARABLE_LOSSES = {"classification": ("CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss"), "regression": ("MSELoss",)}
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def peer_metrics(recipe: Recipe, split: Split, hyper: dict, task: str) -> dict[str, float | None] | None:
    """Test metrics of scikit-learn's MLP trained on `split`; `hyper` is the torch optimizer's param_group."""
    model_name, model_kwargs = recipe.model
    solver = SOLVERS.get(recipe.optimizer[0])
    activation = ACTIVATIONS.get(model_kwargs.get("activation", "relu"))
    if solver is None or activation is None or hyper.get("weight_decay", 0) or model_kwargs.get("batch_norm") \
            or model_kwargs.get("dropout") or model_kwargs.get("layer_norm") \
            or split.X_train.ndim != 2:  # scikit-learn's MLP has none of these, nor image models (CNN)
        return None
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    hidden = tuple(model_kwargs.get("hidden", ())) if model_name == "MLP" else ()
    options = dict(hidden_layer_sizes=hidden, activation=activation if hidden else "identity", solver=solver,
                   alpha=0.0, batch_size=min(recipe.batch_size, len(split.X_train)), learning_rate_init=hyper["lr"],
                   max_iter=recipe.epochs, shuffle=True, random_state=recipe.seed, tol=0.0,
                   n_iter_no_change=recipe.epochs + 1)
    if solver == "sgd":
        options.update(momentum=hyper.get("momentum", 0.0), nesterovs_momentum=bool(hyper.get("nesterov", False)))
    else:
        options.update(beta_1=hyper["betas"][0], beta_2=hyper["betas"][1], epsilon=hyper["eps"])
    regression = task == "regression"
    comparable = recipe.loss[0] in COMPARABLE_LOSSES["regression" if regression else "classification"]
    y_train = split.y_train.ravel() if regression else split.y_train.astype(np.int64).ravel()  # (n,) or (n, 1) 0/1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            peer = (MLPRegressor if regression else MLPClassifier)(**options).fit(split.X_train, y_train)
        except ValueError:  # its parameter check (InvalidParameterError), or "Solver produced non-finite ..."
            return None
    if regression:
        output = peer.predict(split.X_test).reshape(-1, 1)
        loss = float(((output - split.y_test.reshape(-1, 1)) ** 2).mean()) if comparable else None
        return metrics(output, loss, split, "MSELoss")
    proba = peer.predict_proba(split.X_test)
    proba_full = np.zeros((len(proba), int(max(split.labels_test.max(), y_train.max())) + 1))
    proba_full[:, peer.classes_] = proba
    loss = float(-np.log(np.clip(proba_full[np.arange(len(proba)), split.labels_test], 1e-300, None)).mean()) \
        if comparable else None
    return {"loss": loss, "accuracy": float((peer.predict(split.X_test) == split.labels_test).mean())}

