"""What the benchmarks rely on: manual's fast paths change no result, the instruments can see what they claim,
the FLOP count is exact, and `python -m compare bench` writes its report. (The timings live in benches/.)"""
import dataclasses
import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import manual.nn as nn
import manual.optim.sgd as sgd
from compare.bench import sizes, timing
from compare.bench.memory import traced_peak
from compare.cli import bench as cli_bench
from compare.cli import render
from compare.engine import twins


def test_linear_without_input_grad_skips_only_the_input_gradient():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    full, lean = nn.Linear(4, 3, dtype="float64"), nn.Linear(4, 3, dtype="float64")
    lean.load_state_dict(full.state_dict())
    lean.needs_input_grad = False
    full(x), lean(x)
    assert full.backward(g).shape == x.shape
    assert lean.backward(g) is None
    np.testing.assert_array_equal(lean.weight.grad, full.weight.grad)
    np.testing.assert_array_equal(lean.bias.grad, full.bias.grad)


def test_linear_still_names_itself_on_bad_input():
    layer = nn.Linear(4, 3)
    with pytest.raises(TypeError, match=r"Linear\(in_features=4.*float64"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*\(\*, 4\)"):
        layer(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        layer([[0.0] * 4])


def test_accumulate_grad_adopts_only_fresh_gradients():
    shared, fresh = np.ones(3), np.ones(3)
    copied, adopted = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    copied.accumulate_grad(shared)
    adopted.accumulate_grad(fresh, fresh=True)
    assert copied.grad is not shared and adopted.grad is fresh
    copied.accumulate_grad(shared)
    np.testing.assert_array_equal(copied.grad, [2, 2, 2])
    np.testing.assert_array_equal(shared, [1, 1, 1])  # the caller's array is untouched


def test_registered_names_stay_plain_attributes_and_table_entries():
    layer = nn.Linear(2, 2)
    assert layer.weight is layer._parameters["weight"]
    replacement = nn.Parameter(np.zeros((2, 2), dtype=np.float32))
    layer.weight = replacement
    assert layer.weight is replacement and layer._parameters["weight"] is replacement
    layer.bias = None
    assert layer.bias is None and list(layer.state_dict()) == ["weight"]
    layer.register_buffer("scale", np.ones(2))
    layer.scale = np.zeros(2)
    np.testing.assert_array_equal(layer.state_dict()["scale"], [0, 0])
    del layer.scale
    assert "scale" not in layer.state_dict() and not hasattr(layer, "scale")
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = np.zeros((2, 2))


def test_flops_count_the_products_exactly():
    # tiny, 4-4-1, batch 1: forward 2·4·4 + 2·4·1 = 40, dW 40, dX of the second layer only 8
    assert sizes.SIZES["tiny"].flops == 88
    large = sizes.SIZES["large"]
    forward = 2 * 1024 * (784 * 1024 + 1024 * 1024 + 1024 * 10)
    assert large.flops == 2 * forward + 2 * 1024 * (1024 * 1024 + 1024 * 10)


def test_traced_peak_sees_a_temporary_and_a_leak():
    kept = []
    peak, growth = traced_peak(lambda: np.ones(10_000).sum())
    assert 80_000 <= peak < 90_000 and growth == 0
    _, growth = traced_peak(lambda: kept.append(np.ones(1_000)))
    assert growth == pytest.approx(8_000, abs=200)


def test_the_timed_step_matches_the_checked_step():
    """timing_twins only switches off dL/d(data): one timed step leaves both twins with equal weights."""
    size = sizes.SIZES["small"]
    torch_twin, manual_twin = timing.timing_twins(size, "float64")
    (x, y), = timing.batches(size, "float64", 1)
    twins.manual_step(manual_twin, x, y)
    twins.torch_step(torch_twin, x, y, "cpu")
    for name, value in torch_twin.model.state_dict().items():
        np.testing.assert_allclose(manual_twin.model.state_dict()[name], value.numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=name)


def test_bench_command_writes_its_report(tmp_path, capfd, monkeypatch):
    from compare.__main__ import main
    monkeypatch.setattr(timing, "SETTLE_SECONDS", 0.0)
    # the report is checked here, not the timings (benches/): 3 rounds of 20 steps, not tiny's 10 of 400 (2 s)
    monkeypatch.setitem(sizes.SIZES, "tiny", dataclasses.replace(sizes.SIZES["tiny"], batches=20, rounds=3))
    progress: list[str] = []  # the progress lines, as a terminal would get them (compare/cli/render.py's Finished)
    monkeypatch.setattr(render, "Finished", lambda quiet: progress.append)
    json_path, markdown_path = tmp_path / "bench.json", tmp_path / "RESULTS.md"
    threads = torch.get_num_threads()  # pinning is process-wide: keep the count the other tests run with
    assert main(["bench", "--sizes", "tiny", "--backends", "manual", "torch-cpu", "--gemm-n", "256",
                 "--threads", str(threads), "--json", str(json_path), "--markdown", str(markdown_path)]) == 0
    run = json.loads(json_path.read_text())
    (result,) = run["results"]
    assert (result["rounds"], result["steps_per_round"]) == (3, 20)
    assert set(result["backends"]) == {"manual", "torch-cpu"} and "manual/torch-cpu" in result["ratios"]
    assert run["machine"]["threads"]["torch"] == threads
    markdown = markdown_path.read_text()
    assert "python -m compare bench --sizes tiny" in markdown and "| manual / torch-cpu step time | tiny |" in markdown
    assert [line.split(":")[0] for line in progress] == ["tiny [float32] manual", "tiny [float32] torch-cpu"]
    out, err = capfd.readouterr()  # file descriptors: torch's profiler prints from C++
    assert "manual/torch-cpu" in out
    assert out.count("CPU: ") == 1 and "family" in out, "the machine header, once"
    assert "profiler_start" not in err and "USDT" not in err


def test_bench_says_why_a_size_or_backend_is_skipped(capsys):
    from compare.__main__ import main
    if not torch.cuda.is_available():
        assert main(["bench", "--backends", "torch-cuda", "--sizes", "tiny"]) == 2
        assert "torch-cuda: no CUDA device" in capsys.readouterr().err
    runs, skipped, _ = cli_bench.plan(bench_args(["--sizes", "tiny", "cnn", "gpu-xl", "--backends", "manual",
                                              "scikit-learn"]))
    assert set(runs) == {"tiny", "cnn"} and runs["cnn"] == ["manual"]
    if not torch.cuda.is_available():
        assert skipped == ["gpu-xl"] and "GPU-only" in sizes.skip_reason(sizes.SIZES["gpu-xl"], ["manual"])
        assert "no CUDA device" in sizes.skip_reason(sizes.SIZES["gpu-xl"], ["manual"], ["torch-cuda"])


def bench_args(argv):
    import argparse
    parser = argparse.ArgumentParser()
    cli_bench.add_arguments(parser)
    return parser.parse_args(argv)


def test_profile_step_reports_and_puts_the_exact_sgd_update_back(capsys, monkeypatch):
    monkeypatch.setattr(timing, "SETTLE_SECONDS", 0.0)  # 5 rounds x 5 variants of 0.3 s pauses: 7.5 s of sleep
    path = Path(__file__).resolve().parents[2] / "benches" / "profile_step.py"
    spec = importlib.util.spec_from_file_location("profile_step", path)
    profile_step = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(profile_step)
    exact = sgd.add_scaled_
    profile_step.profile(sizes.SIZES["tiny"], steps=5)
    assert sgd.add_scaled_ is exact
    report = capsys.readouterr().out
    assert all(phase in report for phase in profile_step.PHASES) and "plain float32 SGD update" in report


@pytest.mark.parametrize("shape", [(1, 1), (7, 10), (1024, 10), (5, 32), (5, 33), (3, 4, 5)])
def test_softmax_max_over_short_rows_equals_numpys(shape):
    softmax = importlib.import_module("manual.nn.functional.softmax")  # the package exports a function of that name
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[::7] = np.inf
    x.flat[3::11] = np.nan
    x.flat[5::13] = -np.inf
    for dim in range(-x.ndim, x.ndim):
        np.testing.assert_array_equal(softmax._max(x, dim), x.max(axis=dim, keepdims=True))
