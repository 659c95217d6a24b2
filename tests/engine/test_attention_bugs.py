"""The main job must catch a wrong attention backward: each bug below is injected into manual's attention
backward alone (the forward stays right) and the checks `python -m compare` runs on the attention cases must fail:
the GPT training case (compare.engine.step_loop.run_case, the causal path) and the MultiheadAttention module case
(compare.checks.module_check, the unmasked path with its weights output). Without a bug both pass."""
import dataclasses

import numpy as np
import pytest

import manual.nn.functional as F
import manual.nn.functional.attention as attention
from compare.catalogue.attention_cases import ATTENTION_MODULE_CASES, GPT_CASES
from compare.checks.module_check import check_module_case
from compare.engine.step_loop import run_case

correct_backward = F.scaled_dot_product_attention_backward
GPT_CASE = dataclasses.replace(next(c for c in GPT_CASES if c.name.startswith("gpt16x1")), steps=2)
MHA_CASE = next(c for c in ATTENTION_MODULE_CASES if c.name == "mha-self-batch_first")


def no_softmax_term(grad_weights, weights):
    """dL/dA = P ⊙ dL/dP: the softmax Jacobian without its - rowsum(dL/dP ⊙ P) term."""
    return weights * grad_weights


def no_scale(grad_output, query, key, value, weights, scale=None, grad_weights=None):
    """The backward forgets the 1/√d of A = Q Kᵀ/√d."""
    return correct_backward(grad_output, query, key, value, weights, 1.0, grad_weights)


def no_causal_mask(grad_output, query, key, value, weights, scale=None, grad_weights=None):
    """The backward recomputes P without the mask (a future key's weight is not 0 there)."""
    return correct_backward(grad_output, query, key, value, F.attention_weights(query, key, scale=scale), scale,
                            grad_weights)


def merge_without_transpose(grad_heads):
    """(N, H, L, D) -> (N, L, H·D) by a bare reshape: heads and positions mixed up."""
    n, heads, length, head_dim = grad_heads.shape
    return np.ascontiguousarray(grad_heads).reshape(n, length, heads * head_dim)


BUGS = {  # name -> (module, attribute, replacement, caught by the unmasked module case too)
    "softmax-term": (attention, "attention_softmax_backward", no_softmax_term, True),
    "scale": (F, "scaled_dot_product_attention_backward", no_scale, True),
    "causal-mask": (F, "scaled_dot_product_attention_backward", no_causal_mask, False),
    "head-merge": (F, "split_heads_backward", merge_without_transpose, True),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bug", [None, *BUGS], ids=lambda b: b or "no-bug")
def test_attention_backward_bug_fails_the_main_job(bug, dtype, monkeypatch):
    if bug is not None:
        module, name, replacement, _ = BUGS[bug]
        monkeypatch.setattr(module, name, replacement)
    result = run_case(GPT_CASE, dtype)
    module_failures = [c for c in check_module_case(MHA_CASE, dtype) if not c.passed]
    if bug is None:
        assert result.passed and not module_failures
        return
    assert not result.passed, f"{bug}: the GPT case passed"
    assert result.first_mismatch.step == 0 and result.first_mismatch.name.startswith(("grad.", "param."))
    assert bool(module_failures) == BUGS[bug][3], f"{bug}: {[c.describe() for c in module_failures]}"
