"""scikit-learn's MLPClassifier as the bench's third backend (the optional extra `[sklearn]`)."""
from __future__ import annotations

from compare.bench.sizes import LR, Size


def sklearn_classifier(size: Size, seed: int = 0):
    """scikit-learn's MLPClassifier with the same layers, ReLU, plain SGD (no momentum, no L2), the same batch.

    With one output (tiny) scikit-learn needs two classes and then uses one logistic output unit: 4-4-1.
    """
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=size.widths[1:-1], activation="relu", solver="sgd", alpha=0.0,
                         batch_size=size.batch, learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False,
                         shuffle=False, random_state=seed)


def sklearn_available() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True
