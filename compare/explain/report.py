"""The explain report as text: the first wrong module (or rule), the evidence, which side is wrong, the code and
its derivation line, then one row per module with a mark per tensor (ok: within the harness's bound; DIFF:
beyond it; -: not compared, e.g. no gradient for token indices)."""
from __future__ import annotations

from compare.explain.verdict import BACKWARD, FORWARD, OPTIMIZER, Explanation, ModuleVerdict

COLUMNS = ("module", "output", "grad_output", "grad_input", "parameter grads")


def _mark(verdict: ModuleVerdict, prefix: str) -> str:
    errors = [e for name, e in verdict.errors.items() if name.split(".")[0] == prefix]
    if not errors:
        return "-"
    return "ok" if all(e.passed for e in errors) else "DIFF"


def _params(verdict: ModuleVerdict) -> str:
    return " ".join(f"{name[5:]} {'ok' if e.passed else 'DIFF'}" for name, e in verdict.errors.items()
                    if name.startswith("grad.")) or "-"


def table(modules: list[ModuleVerdict], width: int = 48) -> list[str]:
    rows = [COLUMNS] + [(_shorten(f"{v.path or '(model)'}: {v.label}", width), _mark(v, "output"),
                         _mark(v, "grad_output"), _mark(v, "grad_input"), _params(v)) for v in modules]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
            for row in rows]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _why(explanation: Explanation) -> str:
    names = ", ".join(dict.fromkeys(e.name.split(": ", 1)[-1] for e in explanation.evidence))
    if explanation.kind == FORWARD:
        return f"its input matches, its {names} differs"
    if explanation.kind == BACKWARD:
        if any(e.name.endswith("grad_output") or ".grad_output" in e.name for e in explanation.evidence):
            return f"its own code between its children: a child receives a mismatching {names}"
        return f"receives a matching grad_output, returns a mismatching {names}"
    return f"every module's output and gradient match; {names} differ after the step"


def render(explanation: Explanation) -> str:
    e = explanation
    if e.step is None:
        steps = e.result.steps if e.result is not None else 0
        return f"explain {e.case} [{e.dtype}]: all {steps} steps pass; nothing to explain (--step N replays one)"
    lines = [f"explain {e.case} [{e.dtype}]: step {e.step}" + (" (the first failing step)" if e.result else "")
             + (", an evaluation step (eval mode, no optimizer step)," if e.evaluation else "")
             + " replayed module by module"]
    if e.kind is None:
        lines.append(f"  every module matches at step {e.step}")
    else:
        where = f"{e.culprit.path or '(model)'}: {e.culprit.label}" if e.culprit is not None else e.kind
        lines.append(f"first wrong: {where} ({e.kind}): {_why(e)}")
        lines.append(f"  worst: {max(e.evidence, key=lambda t: t.ratio).describe()}")
        if e.kind == OPTIMIZER and e.optimizer_entry is not None:
            lines.append(f"  first optimizer state entry that differs: {e.optimizer_entry.describe()}")
        if e.fd is not None:
            lines.append(f"  finite differences (this module alone, float64, its recorded input): manual {e.fd.manual};"
                         f" torch {e.fd.torch}")
        lines.append(f"  wrong: {e.side}")
        if e.functions:
            lines.append(f"  computed by: {' -> '.join(e.functions)}")
        if e.derivation:
            lines.append(f"  derivation: {e.derivation}")
    lines += table(e.modules)
    return "\n".join(lines)
