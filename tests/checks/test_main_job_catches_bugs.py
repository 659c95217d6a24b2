"""The main job (`python -m compare`, compare/checks/main_job.py) catches a wrong backward in an option the training
catalogue never uses: one injected mistake per layer family, each active only in that option (or, for a layer the
training catalogue lacks, always), and the module and extreme runs of that layer, checked as the main job checks
them, fail on it. The mistakes are injected around each class's backward (the layer's own code is free to change)."""
import numpy as np
import pytest

import manual.nn as mnn
from compare.catalogue.case_types import Case
from compare.checks import main_job, selection


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def first_entry(array, grads, arguments):
    """A small error in the first element: a wrong term that only this option reaches."""
    wrong = np.array(array, copy=True)
    wrong.flat[0] += 1e-3 * (1 + abs(wrong.flat[0]))
    return wrong


def parameter_rows(name, rows):
    """A wrong gradient in some rows of a parameter (after backward accumulated it)."""
    def wrong(module):
        getattr(module, name).grad[rows] += 1e-3
    return wrong


# (label, class, when the mistake is active, how the input gradient is wrong, how a parameter's grad is wrong)
MISTAKES = [
    ("conv2d-dilation-term", mnn.Conv2d, lambda m, args: _pair(m.dilation) != (1, 1), first_entry, None),
    ("conv1d", mnn.Conv1d, lambda m, args: True, first_entry, None),
    ("maxpool2d-padding", mnn.MaxPool2d, lambda m, args: _pair(m.padding) != (0, 0), first_entry, None),
    ("avgpool2d-padding-count", mnn.AvgPool2d, lambda m, args: not m.count_include_pad, first_entry, None),
    ("adaptive_avgpool2d", mnn.AdaptiveAvgPool2d, lambda m, args: True, first_entry, None),
    ("batchnorm2d", mnn.BatchNorm2d, lambda m, args: True, first_entry, None),
    ("layernorm-multi-axis", mnn.LayerNorm, lambda m, args: len(m.normalized_shape) > 1, first_entry, None),
    ("rnncell", mnn.RNNCell, lambda m, args: True, first_entry, None),
    ("lstmcell", mnn.LSTMCell, lambda m, args: True, first_entry, None),
    ("grucell-reset-gate", mnn.GRUCell, lambda m, args: True, None,
     lambda m: parameter_rows("weight_hh", slice(0, m.hidden_size))(m)),  # torch's gate order: r, z, n
    ("rnn-bidirectional", mnn.RNN, lambda m, args: m.bidirectional, None, parameter_rows("weight_ih_l0_reverse", 0)),
    ("embedding-scale_grad_by_freq", mnn.Embedding, lambda m, args: m.scale_grad_by_freq, None,
     parameter_rows("weight", 0)),
    # kinks and NaN units, where the training catalogue's random inputs never land
    ("l1-sign-at-0", mnn.L1Loss, lambda m, args: bool(np.any(args[0] == args[1])),
     lambda g, grads, args: g + (args[0] == args[1]) / args[0].size, None),  # sign(0) taken as 1
    ("relu-at-0", mnn.ReLU, lambda m, args: bool(np.any(args[0] == 0)),
     lambda g, grads, args: np.where(args[0] == 0, grads[0], g), None),  # x < 0 where torch has x <= 0
    ("relu-nan-units", mnn.ReLU, lambda m, args: bool(np.any(np.isnan(args[0]))),
     lambda g, grads, args: np.where(np.isnan(args[0]), 0.0, g).astype(g.dtype), None),  # NaN taken as off
]


def inject(monkeypatch, cls, active, wrong_input_grad, wrong_parameter_grad) -> None:
    forward, backward = cls.forward, cls.backward

    def recording_forward(self, *args, **kwargs):
        self._injected_arguments = args
        return forward(self, *args, **kwargs)

    def wrong_backward(self, *grads):
        result = backward(self, *grads)
        if not active(self, self._injected_arguments):
            return result
        if wrong_parameter_grad is not None:
            wrong_parameter_grad(self)
        if wrong_input_grad is None:
            return result
        if isinstance(result, tuple):
            return (wrong_input_grad(result[0], grads, self._injected_arguments), *result[1:])
        return wrong_input_grad(result, grads, self._injected_arguments)

    monkeypatch.setattr(cls, "forward", recording_forward)
    monkeypatch.setattr(cls, "backward", wrong_backward)


def runs_of(cls) -> list:
    """The main job's float64 module and extreme runs of `cls` (those a mistake in it can reach)."""
    def module_name(case):
        return getattr(case, "case", case).module[0] if hasattr(getattr(case, "case", case), "module") else None
    return [run for run in selection.plan(None, "float64", ["cpu"])
            if not isinstance(run.case, Case) and module_name(run.case) == cls.__name__]


@pytest.mark.parametrize("label, cls, active, wrong_input_grad, wrong_parameter_grad", MISTAKES,
                         ids=[m[0] for m in MISTAKES])
def test_the_main_job_fails_on_a_wrong_backward_in_an_option_of_each_family(label, cls, active, wrong_input_grad,
                                                                           wrong_parameter_grad, monkeypatch):
    runs = runs_of(cls)
    assert runs, f"no module case of {cls.__name__} in the main job"
    inject(monkeypatch, cls, active, wrong_input_grad, wrong_parameter_grad)
    results = [main_job.execute_safely(run) for run in runs]
    assert not [r.error for r in results if r.error], label  # a mismatch, not an exception of the injection
    failed = [run for run, result in zip(runs, results, strict=True) if not result.passed]
    assert failed, f"{label}: the main job's {len(runs)} runs of {cls.__name__} all pass with the mistake injected"
    monkeypatch.undo()
    assert all(main_job.execute_safely(run).passed for run in failed), f"{label}: they fail without it too"
