"""torch's own test samples (`torch.testing._internal.common_modules.module_db`), loaded once per process for the
tests/torch_samples/test_*.py files, when their tests run: each test covers a module's samples, one subtest per
sample (`each_sample`), so that collecting them (which every pytest-xdist worker does) reads no module_db (about 2 s
to import, and more to build the samples).

`module_db` lists, per torch.nn module, the constructor arguments and inputs torch's test suite runs it with
(`ModuleInfo.module_inputs_func`, in training and, where they differ, eval mode). Importing it has side effects
this loader undoes, so that they do not leak into the other tests of the same process:
- torch's test utilities import `expecttest` (a test-only package torch does not install) for its TestCase base
  class only: a stand-in with `unittest.TestCase` is registered when it is missing;
- they freeze torch.backends' global flags (`disable_global_flags()`, a guard for torch's own suite; afterwards
  `torch.backends.cudnn.allow_tf32 = ...`, as compare.cli.check and compare.bench.timing do, raises): thawed again if they
  were not frozen before (torch.backends has no function to set the flag back);
- they wrap TorchScript's `ScriptFunction.__call__` / `ScriptMethod.__call__` in a profiler: put back.
tests/torch_samples/test_modules.py::test_loading_module_db_leaves_torch_as_it_was checks all three.
"""
import functools
import sys
import types
import unittest

import torch


@functools.cache
def module_db() -> list:
    """torch's module_db, imported once per process, without leaving torch's global state changed."""
    try:
        import expecttest  # noqa: F401
    except ImportError:
        sys.modules["expecttest"] = types.SimpleNamespace(TestCase=unittest.TestCase, ACCEPT=False)
    frozen = torch.backends.flags_frozen()
    script_calls = torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__
    try:
        from torch.testing._internal.common_modules import module_db as db
    finally:
        torch._C.ScriptFunction.__call__, torch._C.ScriptMethod.__call__ = script_calls
        if not frozen:
            torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True
    return db


def module_infos(names) -> dict:
    """name -> ModuleInfo for each torch.nn module named (in the order given) that module_db has."""
    found = {info.module_cls.__name__: info for info in module_db()
             if info.module_cls is getattr(torch.nn, info.module_cls.__name__, None)}
    return {name: found[name] for name in names if name in found}


def trainings(info) -> tuple:
    """The modes torch samples a module in: training, and eval too where the two differ."""
    return (True, False) if info.train_and_eval_differ else (True,)


def module_inputs(info, dtype=torch.float64, training=True, seed=0) -> list:
    """The samples torch's suite builds for one module (inputs that require grad), on the CPU. Their values are
    random: drawn from `seed`, so that a failing sample fails again on the next run."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return list(info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True,
                                            training=training))


def each_sample(subtests, labelled, check) -> None:
    """check(*sample) for each (label, sample) of `labelled`, each a subtest named by its label; none is a failure
    (torch's module_db lost the module's samples)."""
    count = 0
    for label, sample in labelled:
        count += 1
        with subtests.test(label):
            check(*sample)
    assert count, "no sample"
