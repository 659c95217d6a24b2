"""Swish's cases for the catalogues, as a plugin: `python -m compare --plugin swish_cases` (with this folder on
PYTHONPATH) imports this module, which registers the layer, a model using it and their cases; the main job then
runs the training case (`--only swishnet`), and `python -m compare explain swishnet-ce-sgd_mom --plugin
swish_cases` replays it module by module. A package would declare it once instead, in its pyproject.toml:

    [project.entry-points."backprop_crosscheck.cases"]
    swish = "swish_cases"

Everything a registration needs comes from the public face `compare.registry`.
"""
import torch
from swish import Swish, TorchSwish

import manual.nn as mnn
from compare import registry


class SwishNet(mnn.Sequential):
    """Linear(4, width) -> Swish(width) -> Linear(width, 3): class scores."""

    def __init__(self, width: int, dtype=None):
        super().__init__(mnn.Linear(4, width, dtype=dtype), Swish(width, beta=1.5, dtype=dtype),
                         mnn.Linear(width, 3, dtype=dtype))


class TorchSwishNet(torch.nn.Sequential):
    def __init__(self, width: int, device=None, dtype=None):
        super().__init__(torch.nn.Linear(4, width, device=device, dtype=dtype),
                         TorchSwish(width, beta=1.5).to(device=device, dtype=dtype),
                         torch.nn.Linear(width, 3, device=device, dtype=dtype))


registry.register_module("Swish", Swish, TorchSwish)
registry.register_module("SwishNet", SwishNet, TorchSwishNet)
registry.register_case(registry.ModuleCase("swish-5", ("Swish", {"num_features": 5, "beta": 1.5}),
                                           registry.normal(4, 5, scale=3.0)))
registry.register_case(registry.Case("swishnet-ce-sgd_mom", ("SwishNet", {"width": 6}), ("CrossEntropyLoss", {}),
                                     ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                     registry.Batches("classification", in_features=4, targets=3, batch_size=8),
                                     steps=20))
