"""Figure 7: where the trained character-level GPT looks, per head, on both backends, and how far apart they are.

The GPT case of the catalogue (gpt32x2, float64) trains on both backends through the harness
(compare.engine.step_loop.run_twins: every step compared, free-running); then both trained models read the same
window of the shipped text and give the attention weights P (L, L) of every head of their last block,
P = softmax(q kᵀ/√d + causal mask) on LayerNorm'd inputs (MultiheadAttention with need_weights=True,
average_attn_weights=False; torch's on torch_ref.models.GPT, manual's on manual.models.GPT). Row i is the query at
character i, column j the key at character j; the causal mask makes everything above the diagonal 0 on both.
Each row of the figure is one head: manual, torch, and |manual - torch| on a log scale (exact zeros drawn at the
floor).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

import manual
from compare.catalogue.attention_cases import GPT_CASES, TOKENS
from compare.catalogue.batches import load_text
from compare.engine.step_loop import run_twins
from compare.engine.tolerances import tolerance_for
from compare.engine.twins import build_twins, to_numpy
from compare.plots.common import new_figure, select

CASE = next(case for case in GPT_CASES if case.name == "gpt32x2-ce-adamw-cosine-clipnorm")
DTYPE = "float64"
TOLERANCE = tolerance_for  # how compare/cli/plots.py judges the figure's manual-vs-torch columns
PROMPT_START = 0  # the window of the text the trained models read


def _attention_weights(model, tokens, layer: int, no_grad) -> np.ndarray:
    """The per-head weights (heads, L, L) of block `layer` on `tokens`; the same code reads either backend's GPT
    (the same attribute names on both), under that backend's `no_grad`."""
    with no_grad():
        x = model.embed(tokens)
        mask = model.causal_mask(tokens.shape[1])
        for block in list(model.blocks)[:layer]:
            x = block(x, src_mask=mask, is_causal=True)
        block = model.blocks[layer]
        h = block.norm1(x)
        _, weights = block.self_attn(h, h, h, attn_mask=mask, average_attn_weights=False)
    return to_numpy(weights[0]) if isinstance(weights, torch.Tensor) else weights[0]


def compute(quick: bool = False) -> dict:
    case = dataclasses.replace(CASE, steps=10 if quick else CASE.steps)
    torch_twin, manual_twin = build_twins(case, DTYPE, "cpu", seed=0)
    assert case.data == TOKENS, "the case reads the shipped text's tokens"
    result = run_twins(torch_twin, manual_twin, TOKENS.stream(0, DTYPE), case.steps, DTYPE, "cpu", case.name)
    checks = [{"run": f"{case.name} [{DTYPE}]", "steps": result.steps, "passed": result.passed,
               "worst": None if result.worst is None else result.worst.describe()}]
    vocab, block_size = TOKENS.vocab, case.model[1]["block_size"]
    prompt = load_text(TOKENS.text)[PROMPT_START:PROMPT_START + block_size]
    idx = np.array([[vocab.index(c) for c in prompt]], dtype=np.int64)
    layer = case.model[1]["n_layer"] - 1
    w_manual = _attention_weights(manual_twin.model, idx, layer, manual.no_grad)
    w_torch = _attention_weights(torch_twin.model, torch.from_numpy(idx), layer, torch.no_grad)
    rows = [{"head": h, "query": i, "key": j, "dtype": DTYPE, "weight_manual": float(w_manual[h, i, j]),
             "weight_torch": float(w_torch[h, i, j])}
            for h in range(w_manual.shape[0]) for i in range(block_size) for j in range(block_size)]
    return {"settings": {"case": case.name, "steps": case.steps, "dtype": DTYPE, "layer": layer, "prompt": prompt,
                         "heads": int(w_manual.shape[0]), "quick": quick}, "checks": checks, "rows": rows}


def _grid(rows: list[dict], key: str, size: int) -> np.ndarray:
    grid = np.zeros((size, size))
    for row in rows:
        grid[row["query"], row["key"]] = row[key]
    return grid


def draw(data: dict):
    from matplotlib.colors import LogNorm

    settings, rows = data["settings"], data["rows"]
    prompt, heads = settings["prompt"], settings["heads"]
    size = len(prompt)
    figure = new_figure(13, 3.6 * heads)
    axes = figure.subplots(heads, 3, squeeze=False)
    labels = [c if c.strip() else "␣" for c in prompt]
    diffs = [np.abs(_grid(select(rows, head=h), "weight_manual", size) - _grid(select(rows, head=h), "weight_torch",
                                                                                 size)) for h in range(heads)]
    nonzero = [d[d > 0].min() for d in diffs if (d > 0).any()]
    floor = 10.0 ** (np.floor(np.log10(min(nonzero, default=1e-17))) - 1)
    top = max(floor * 10, max(d.max() for d in diffs))
    for h in range(heads):
        part = select(rows, head=h)
        for ax, key, title in ((axes[h, 0], "weight_manual", "manual"), (axes[h, 1], "weight_torch", "torch")):
            image = ax.imshow(_grid(part, key, size), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"head {h}: {title}", fontsize=10)
        figure.colorbar(image, ax=axes[h, :2], shrink=0.8, label="attention weight")
        diff = axes[h, 2].imshow(np.maximum(diffs[h], floor), cmap="magma", norm=LogNorm(floor, top))
        axes[h, 2].set_title(f"head {h}: |manual - torch| (zeros at {floor:.0e})", fontsize=10)
        figure.colorbar(diff, ax=axes[h, 2], shrink=0.8)
        for ax in axes[h]:
            ax.set_xticks(range(size), labels, fontsize=6, family="monospace")
            ax.set_yticks(range(size), labels, fontsize=6, family="monospace")
            ax.set_xlabel("key (attended character)", fontsize=8)
            ax.set_ylabel("query (character)", fontsize=8)
    figure.suptitle(f"Attention of the trained GPT ({settings['case']}, {settings['steps']} steps, {settings['dtype']}),"
                    f" block {settings['layer']}, on {prompt!r}", fontsize=11)
    return figure
