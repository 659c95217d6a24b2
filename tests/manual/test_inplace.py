"""Saved arrays are read-only between forward and backward (Module.save_for_backward, manual.nn.grad_mode).

torch raises at backward when a tensor it saved was modified in place; manual raises at the write. For every
module and loss of the catalogue and each array the caller holds (input, output, target), an in-place edit
after the forward either raises or leaves every gradient exactly as without the edit: never a wrong gradient.
Then the ways a lock ends: backward, the module's next forward, `manual.no_grad()`.
"""
import numpy as np
import pytest

import manual
import manual.nn as mnn
from compare.catalogue.module_cases import MODULE_CASES
from compare.checks.module_check import build_manual, make_arguments, random_grad_outputs
from manual.gradcheck import flat_outputs
from manual.nn import grad_mode


def build(case):
    """The case's manual module in float64 with its state, mode and (Dropout) a fixed mask; its arguments
    (input, *extra_inputs, target)."""
    manual.manual_seed(0)
    module = build_manual(case)
    if case.state is not None:
        module.load_state_dict({**module.state_dict(), **case.state(np.random.default_rng(2))})
    if isinstance(module, mnn.Dropout):
        module.mask_provider = lambda shape: np.random.default_rng(3).random(shape) >= module.p
    return module, make_arguments(case, "float64")


def outputs_of(module, arguments) -> tuple:
    return tuple(flat_outputs(module(*arguments)))  # nested ones (LSTM's (output, (h_n, c_n))) in order


def backward(module, outputs, case):
    grads = random_grad_outputs(outputs, "float64", 1, case.target is not None)
    module.zero_grad()
    grad_inputs = module.backward(*grads)
    grad_inputs = grad_inputs if isinstance(grad_inputs, tuple) else (grad_inputs,)
    return [np.array(g, copy=True) for g in grad_inputs] + [np.array(p.grad, copy=True) for p in module.parameters()]


EDITED = ["input", "extra input", "output", "target"]


def edited_arrays(which, case, arguments, outputs) -> list:
    """The arrays the caller holds that `which` names (every output of a module with several)."""
    extra = len(case.extra_inputs)
    return {"input": [arguments[0]], "extra input": list(arguments[1:1 + extra]), "output": list(outputs),
            "target": [arguments[-1]] if case.target is not None else []}[which]


def edit(array) -> bool:
    """Add 1 in place to an array the caller holds; False when there is nothing to edit."""
    if not isinstance(array, np.ndarray) or array.size == 0:
        return False
    np.add(array, 1, out=array, casting="unsafe")
    return True


def holds(case, which) -> bool:
    return {"extra input": bool(case.extra_inputs), "target": case.target is not None}.get(which, True)


@pytest.mark.parametrize("case, which", [pytest.param(case, which, id=f"{case.name}-{which}") for case in MODULE_CASES
                                         for which in EDITED if holds(case, which)])
def test_in_place_edit_between_forward_and_backward_raises_or_changes_nothing(case, which):
    module, arguments = build(case)
    with np.errstate(all="ignore"):
        expected = backward(module, outputs_of(module, arguments), case)
    module, arguments = build(case)
    outputs = outputs_of(module, arguments)
    edited = False
    for array in edited_arrays(which, case, arguments, outputs):
        try:
            edited = edit(array) or edited
        except ValueError as error:
            assert "read-only" in str(error), str(error)
    with np.errstate(all="ignore"):
        got = backward(module, outputs, case)
    names = [*[f"input {i}" for i in range(len(got) - len(list(module.parameters())))],
             *[n for n, _ in module.named_parameters()]]
    for name, g, e in zip(names, got, expected, strict=True):
        np.testing.assert_array_equal(g, e, err_msg=f"{case.name}: the {which} edited in place "
                                                    f"{'went through and ' if edited else ''}changed grad {name}")
    for array in (*arguments, *outputs):  # backward released every lock it held
        assert not isinstance(array, np.ndarray) or array.flags.writeable


def test_edits_of_saved_arrays_raise_in_most_of_the_catalogue():
    """Where the backward reads the caller's input or output (x for Linear, Maxout, the elementwise losses;
    y for ReLU, Sigmoid, Tanh, Softmax), the edit raises; the others keep a shape, a mask or values of their
    own (Identity, Flatten, Dropout, BatchNorm1d's x̂, CrossEntropyLoss's log-probabilities)."""
    raised = []
    for case in MODULE_CASES:
        for which in ("input", "output"):
            module, arguments = build(case)
            outputs = outputs_of(module, arguments)
            try:
                for array in edited_arrays(which, case, arguments, outputs):
                    edit(array)
            except ValueError:
                raised.append(f"{case.name}-{which}")
    assert len(raised) >= 39, raised


def linear(out_features=2):
    return mnn.Linear(3, out_features, dtype="float64")


def test_backward_unlocks():
    layer, x = linear(), np.ones((4, 3))
    layer(x)
    assert not x.flags.writeable
    layer.backward(np.ones((4, 2)))
    assert x.flags.writeable
    x[0, 0] = 2.0


def test_the_next_forward_unlocks_the_previous_input():
    layer, first, second = linear(), np.ones((4, 3)), np.zeros((4, 3))
    layer(first)
    layer(second)
    assert first.flags.writeable and not second.flags.writeable
    layer.backward(np.ones((4, 2)))
    assert second.flags.writeable


def test_no_grad_saves_and_locks_nothing_and_releases_a_pending_forward():
    layer, pending, x = linear(), np.ones((4, 3)), np.zeros((4, 3))
    layer(pending)
    with manual.no_grad():
        layer(x)
    assert x.flags.writeable and pending.flags.writeable
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3.*without a matching forward.*no_grad"):
        layer.backward(np.ones((4, 2)))

    @manual.no_grad()
    def evaluate(batch):
        return layer(batch)

    evaluate(x)
    assert x.flags.writeable and grad_mode.is_grad_enabled()


def test_an_array_saved_by_two_modules_stays_locked_until_both_released_it():
    model = mnn.Sequential(mnn.ReLU(), linear())
    x = np.random.default_rng(0).standard_normal((4, 3))
    hidden = model[0](x)  # saved by ReLU (its output) and by Linear (its input)
    model[1](hidden)
    model[1].backward(np.ones((4, 2)))
    assert not hidden.flags.writeable
    model[0].backward(np.ones((4, 3)))
    assert hidden.flags.writeable


def test_an_array_that_was_read_only_stays_read_only():
    layer, x = linear(), np.ones((4, 3))
    x.flags.writeable = False
    layer(x)
    layer.backward(np.ones((4, 2)))
    assert not x.flags.writeable


def test_a_view_saved_before_its_base_is_unlocked_with_the_base():
    first, second, base = linear(), linear(), np.ones((4, 3))
    view = base[:2]
    first(view)
    second(base)
    first.backward(np.ones((2, 2)))
    assert not view.flags.writeable  # NumPy refuses a writeable view of a read-only base
    second.backward(np.ones((4, 2)))
    assert view.flags.writeable and base.flags.writeable


def test_a_waiting_view_saved_again_stays_locked_after_its_base_is_released():
    first, second, third, base = linear(), linear(), linear(), np.ones((4, 3))
    view = base[:2]
    first(view)
    second(base)
    first.backward(np.ones((2, 2)))  # the view waits for its base
    third(view)  # and is saved again
    second.backward(np.ones((4, 2)))
    assert base.flags.writeable and not view.flags.writeable
    third.backward(np.ones((2, 2)))
    assert view.flags.writeable


def test_a_training_step_leaves_no_lock_behind():
    before = grad_mode.locked_count()
    model = manual.models.MLP(3, [5, 4], 2, batch_norm=True, dropout=0.2, dtype="float64")
    loss_fn = mnn.CrossEntropyLoss()
    x, y = np.random.default_rng(0).standard_normal((6, 3)), np.array([0, 1, 1, 0, 1, 0])
    model.backward(loss_fn.backward(loss_fn(model(x), y)))
    assert grad_mode.locked_count() == before
    assert x.flags.writeable and y.flags.writeable


def test_save_for_backward_keeps_the_array_itself():
    """O(1) per forward: the saved input is the caller's array, neither copied nor hashed."""
    layer, x = linear(), np.ones((4, 3))
    layer(x)
    assert layer._saved[0] is x
