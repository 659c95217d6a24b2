"""Sequential: modules applied in order; backward runs the chain rule through them in reverse."""
from collections import OrderedDict

from manual.nn.module import Module


class Sequential(Module):
    """`Sequential(m0, m1, ...)` or `Sequential(OrderedDict(name=module))`, keyed like torch ("0.weight").

    forward:  y = m_k(...m_1(m_0(x)))
    backward: dL/dx = m_0'(... m_k'(dL/dy)) -- each module's backward, last to first.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                setattr(self, name, module)
        else:
            for index, module in enumerate(modules):
                setattr(self, str(index), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def backward(self, grad_output):
        for module in reversed(self._modules.values()):
            grad_output = module.backward(grad_output)
        return grad_output

    def append(self, module: Module) -> "Sequential":
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
