"""Every case of `python -m compare`, both dtypes, on the CPU (and on CUDA when present, marked gpu)."""
import pytest
import torch

from compare.catalogue import training_cases
from compare.cli import check
from compare.engine.step_loop import run_case

RUNS = [pytest.param(case, dtype, id=f"{case.name}-{dtype}") for case in training_cases.CATALOGUE for dtype in case.dtypes]


@pytest.mark.parametrize("case, dtype", RUNS)
@pytest.mark.heavy  # every training case in both dtypes: seconds in all
def test_case_passes_on_cpu(case, dtype):
    result = run_case(case, dtype, "cpu")
    assert result.passed, check.table([result])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("case, dtype", RUNS)
def test_case_passes_on_cuda(case, dtype):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False  # cuDNN's RNN kernels (CharRNN) too, as compare/cli/check.py
    result = run_case(case, dtype, "cuda")
    assert result.passed, check.table([result])
