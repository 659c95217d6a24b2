"""Saving and loading lose nothing: manual -> .npz -> manual and manual -> torch -> .pt -> torch -> manual are
bit-identical (dtype, shape, bytes, key order), special values included; and a save or report that fails
half-way (an error, Ctrl-C, a full disk) loses nothing: the old file stays byte for byte."""
import errno
import json
import os
import stat

import numpy as np
import pytest
import torch

import manual
import manual.atomic
import manual.models
import manual.nn as mnn
import torch_ref.models
from compare.bench import report as bench_report
from compare.cli import bench as cli_bench
from compare.cli import check
from compare.engine import convert
from compare.plots import common as plots_common
from manual.atomic import atomic_write

MODELS = [
    ("LinearRegression", {"in_features": 5, "out_features": 2}),
    ("SoftmaxRegression", {"in_features": 4, "num_classes": 3}),
    ("MLP", {"in_features": 4, "hidden": [6, 7], "out_features": 3, "activation": "tanh"}),
    ("Perceptron", {"in_features": 3}),
]
PARAMS = [pytest.param(name, kwargs, dtype, id=f"{name}-{dtype}") for name, kwargs in MODELS
          for dtype in ("float32", "float64")]


class WithBuffers(mnn.Module):
    """A parameter with special values, and buffers of other dtypes (an int64 0-d counter, as BatchNorm's)."""

    def __init__(self):
        super().__init__()
        self.weight = mnn.Parameter(np.array([-0.0, np.nan, np.inf, -np.inf, 5e-324, 1.0 / 3.0]))
        self.register_buffer("count", np.array(7, dtype=np.int64))
        self.register_buffer("running", np.array([1.5, -2.25], dtype=np.float32))
        self.register_buffer("scratch", np.zeros(2), persistent=False)


def assert_bit_identical(actual, expected):
    assert list(actual) == list(expected), "keys or their order differ"
    for key, value in expected.items():
        got = np.asarray(actual[key])
        assert (got.dtype, got.shape) == (value.dtype, value.shape), key
        assert got.tobytes() == value.tobytes(), f"{key}: bytes differ"


def manual_model(name, kwargs, dtype, seed):
    manual.manual_seed(seed)
    return getattr(manual.models, name)(**kwargs, dtype=dtype)


@pytest.mark.parametrize("name, kwargs, dtype", PARAMS)
def test_npz_round_trip_is_bit_identical(tmp_path, name, kwargs, dtype):
    original = manual_model(name, kwargs, dtype, seed=1)
    manual.save(original, tmp_path / "model.weights")  # written to exactly this path, no ".npz" appended
    restored = manual.load(manual_model(name, kwargs, dtype, seed=2), tmp_path / "model.weights")
    assert_bit_identical(restored.state_dict(), original.state_dict())


@pytest.mark.parametrize("name, kwargs, dtype", PARAMS)
def test_manual_torch_pt_round_trip_is_bit_identical(tmp_path, name, kwargs, dtype):
    original = manual_model(name, kwargs, dtype, seed=1)
    torch_model = convert.manual_to_torch(original, getattr(torch_ref.models, name)(**kwargs,
                                                                                    dtype=getattr(torch, dtype)))
    torch.save(torch_model.state_dict(), tmp_path / "model.pt")
    fresh_torch = getattr(torch_ref.models, name)(**kwargs, dtype=getattr(torch, dtype))
    fresh_torch.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    restored = convert.torch_to_manual(fresh_torch, manual_model(name, kwargs, dtype, seed=2))
    assert_bit_identical(restored.state_dict(), original.state_dict())
    x = np.random.default_rng(0).standard_normal((4, kwargs["in_features"])).astype(dtype)
    np.testing.assert_array_equal(restored(x), original(x))


def test_special_values_and_buffer_dtypes_survive_every_route(tmp_path):
    original = WithBuffers()
    routes = {
        "npz": lambda m: (manual.save(original, tmp_path / "a.npz"), manual.load(m, tmp_path / "a.npz")),
        "pt": lambda m: (convert.save_pt(original, tmp_path / "a.pt"), convert.load_pt(m, tmp_path / "a.pt")),
        "npz->pt->npz": lambda m: (manual.save(original, tmp_path / "b.npz"),
                                   convert.npz_to_pt(tmp_path / "b.npz", tmp_path / "b.pt"),
                                   convert.pt_to_npz(tmp_path / "b.pt", tmp_path / "c.npz"),
                                   manual.load(m, tmp_path / "c.npz")),
        "torch state_dict": lambda m: m.load_state_dict(convert.to_numpy_state_dict(
            convert.to_torch_state_dict(original.state_dict()))),
    }
    for route, run in routes.items():
        restored = WithBuffers()
        restored.weight.data[...] = 0.0
        restored.count[...] = 0
        run(restored)
        assert "scratch" not in restored.state_dict()
        assert_bit_identical(restored.state_dict(), original.state_dict())
        assert np.signbit(restored.weight.data[0]), route  # -0.0 stays negative zero


def test_loading_a_mismatched_archive_names_the_problem(tmp_path):
    manual.save(manual.models.MLP(4, [6], 3), tmp_path / "mlp.npz")
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        manual.load(manual.models.MLP(5, [6], 3), tmp_path / "mlp.npz")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "4\.weight"'):
        manual.load(manual.models.MLP(4, [6, 6], 3), tmp_path / "mlp.npz")
    convert.save_pt(manual.models.MLP(4, [6], 3), tmp_path / "mlp.pt")
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "0\.weight"'):
        convert.load_pt(manual.models.LinearRegression(4, 3), tmp_path / "mlp.pt")


class NamedLikeSavezArguments(mnn.Module):
    """Parameters named as `np.savez`'s own parameters (`file`, `allow_pickle`), which it cannot save."""

    def __init__(self):
        super().__init__()
        self.file = mnn.Parameter(np.arange(3.0))
        self.allow_pickle = mnn.Parameter(np.array([[1.5, -2.0]], dtype=np.float32))


def test_parameters_named_file_and_allow_pickle_round_trip(tmp_path):
    original = NamedLikeSavezArguments()
    manual.save(original, tmp_path / "m.npz")
    restored = NamedLikeSavezArguments()
    restored.file.data[...] = 0.0
    restored.allow_pickle.data[...] = 0.0
    assert_bit_identical(manual.load(restored, tmp_path / "m.npz").state_dict(), original.state_dict())
    convert.npz_to_pt(tmp_path / "m.npz", tmp_path / "m.pt")
    convert.pt_to_npz(tmp_path / "m.pt", tmp_path / "n.npz")
    assert_bit_identical(manual.persistence.load_state_dict(tmp_path / "n.npz"), original.state_dict())


class Raises(mnn.Module):
    def state_dict(self):
        raise RuntimeError("state_dict failed")


class UnwritableSecondArray(mnn.Module):
    """The first array is written, the second (an object array: allow_pickle=False) fails half-way."""

    def state_dict(self):
        return {"weight": np.ones(1000), "names": np.array(["a", None], dtype=object)}


def interrupt_second_array(monkeypatch):
    write_array, calls = np.lib.format.write_array, []

    def write_then_interrupt(file, array, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            file.write(b"partial")
            raise KeyboardInterrupt
        write_array(file, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_interrupt)


def disk_full_at_fsync(monkeypatch):
    def fsync(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(manual.atomic.os, "fsync", fsync)


# name -> (model to save, monkeypatching before the save, the exception that must come through)
FAILED_SAVES = {
    "not a model": (lambda: object(), None, AttributeError),
    "state_dict raises": (Raises, None, RuntimeError),
    "array fails mid-save": (UnwritableSecondArray, None, ValueError),
    "Ctrl-C mid-save": (lambda: manual.models.MLP(4, [6], 3), interrupt_second_array, KeyboardInterrupt),
    "disk full": (lambda: manual.models.MLP(4, [6], 3), disk_full_at_fsync, OSError),
}


@pytest.mark.parametrize("failure", FAILED_SAVES)
def test_a_failed_save_leaves_the_old_file_byte_identical(tmp_path, monkeypatch, failure):
    make_model, patch, error = FAILED_SAVES[failure]
    path = tmp_path / "model.npz"
    manual.save(manual.models.MLP(2, [3], 2), path)
    old = path.read_bytes()
    model = make_model()
    if patch:
        patch(monkeypatch)
    with pytest.raises(error):
        manual.save(model, path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left behind


def test_atomic_write_keeps_permissions_follows_links_and_refuses_other_modes(tmp_path):
    target = tmp_path / "report.txt"
    with atomic_write(target, "w") as f:
        f.write("one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    target.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with atomic_write(link, "w") as f:
        f.write("two")
    assert link.is_symlink() and target.read_text() == "two" and stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(target, "a"):
            pass
    with pytest.raises(IsADirectoryError):
        with atomic_write(tmp_path, "w"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "report.txt"]


def interrupting_json_dump(data, file, **kwargs):
    file.write('{"passed": true, "cases": [')  # a report cut short would still parse as far as this
    raise KeyboardInterrupt


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# every report the command line writes: name -> write(path)
WRITERS = {
    "check --json": lambda path: check.write_json([], path),
    "bench --json": lambda path: bench_report.write_json({}, path),
    "bench --markdown": lambda path: cli_bench.write_markdown({}, path, ""),
    "plots NAME.json": lambda path: plots_common.write_json({"rows": []}, path),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_an_interrupted_report_leaves_the_previous_one(tmp_path, monkeypatch, writer):
    monkeypatch.setattr(json, "dump", interrupting_json_dump)
    monkeypatch.setattr(cli_bench, "markdown", interrupt)
    path = tmp_path / "report"
    path.write_text("the previous report\n")
    with pytest.raises(KeyboardInterrupt):
        WRITERS[writer](path)
    assert path.read_text() == "the previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
