from swish import Swish, TorchSwish


def test_swish(crosscheck):
    crosscheck.module_matches(Swish(5, beta=1.5), TorchSwish(5, beta=1.5), lambda rng: 3 * rng.standard_normal((4, 5)))
