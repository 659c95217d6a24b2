"""compare.engine.twins.clear_grads: torch's optimizer.zero_grad() without its profiler scope, and the optimizer's
own zero_grad where its class overrides it."""
import torch

from compare.engine.twins import clear_grads


def _model_with_grads() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model(torch.randn(5, 3)).sum().backward()
    return model


def test_it_leaves_the_grads_as_zero_grad_does():
    mine, theirs = _model_with_grads(), _model_with_grads()
    extra = torch.nn.Parameter(torch.ones(2))  # a parameter of the optimizer only: cleared too
    extra.grad = torch.ones(2)
    clear_grads(torch.optim.Adam([*mine.parameters(), extra]))
    torch.optim.Adam(theirs.parameters()).zero_grad()
    assert all(p.grad is None for p in [*mine.parameters(), extra])
    assert all(p.grad is None for p in theirs.parameters())


def test_an_overridden_zero_grad_is_called():
    class Zeroing(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True) -> None:
            super().zero_grad(set_to_none=False)

    model = _model_with_grads()
    clear_grads(Zeroing(model.parameters(), lr=0.1))
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
