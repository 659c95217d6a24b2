"""The one random generator behind manual's initialisation (and Dropout masks), like torch's global one.

NumPy cannot reproduce torch's random stream, so twin models get equal weights by copying a state_dict,
never by seeding both sides alike.
"""
import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (as `torch.manual_seed`) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    return _generator
