"""Which module goes wrong first, on which side, and in which code.

Every module's tensors of the replayed step (replay.py) are compared with the harness's tolerances
(compare/engine/tolerances.py: rtol/atol in float64; in float32 the error model, its spread measured on torch's
float64 reference of the same step). The culprit, in this order:
1. the first module, in the order the forwards finished, whose output differs: its forward is wrong (a leaf
   finishes before its container, so a container is named only when all its children agree: its own code);
2. else the first module, in the order the backwards finished (the loss first), whose grad_input or own
   parameter gradient differs: its backward is wrong when it received a matching grad_output; when its
   grad_output already differed, what computed that grad_output is its container's own code between the
   children (EmbeddingClassifier's mean, CharRNN's transpose), so the container is named;
3. else a buffer that differs after the step (a running statistic): the module that owns it, forward;
4. else gradients that differ only after clipping: the clip function; else parameters or optimizer state that
   differ after the step: the optimizer's rule, and its first state entry (momentum_buffer, exp_avg, ...) that
   differs; a learning rate that differs: the scheduler.
The culprit's own float64 finite-difference check on the recorded input (fd_check.py) tells which side is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compare.engine.comparison import compare_once
from compare.engine.error_table import TensorError
from compare.engine.step_loop import CaseResult, run_case
from compare.engine.tolerances import error_model_for, tolerance_for
from compare.explain import fd_check, sources
from compare.explain.records import LOSS, ModuleRecord, StepRecord
from compare.explain.replay import ReplayedStep, replay_step, replay_twins

# what went wrong first (Explanation.kind)
FORWARD = "forward"
BACKWARD = "backward"
BUFFER = "buffer"
CLIP = "clip"
OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"


@dataclass
class ModuleVerdict:
    path: str
    label: str
    errors: dict = field(default_factory=dict)  # tensor ("output", "grad_input", "grad.weight", ...) -> TensorError

    def failed(self, *prefixes: str) -> list[TensorError]:
        return [e for name, e in self.errors.items() if name.startswith(prefixes) and not e.passed]


@dataclass
class Explanation:
    case: str
    dtype: str
    step: int | None  # the replayed step; None when every step passed and none was asked for
    result: CaseResult | None  # the main job's run of the case (None when --step named the step)
    modules: list = field(default_factory=list)  # ModuleVerdicts, in the order the forwards finished
    culprit: ModuleVerdict | None = None
    kind: str | None = None  # FORWARD, BACKWARD, BUFFER, CLIP, OPTIMIZER, SCHEDULER; None: the step matches
    evidence: list = field(default_factory=list)  # the culprit's (or the optimizer's) failing TensorErrors
    fd: fd_check.FDVerdict | None = None
    functions: list = field(default_factory=list)  # "qualified name (file:line)" of the code that computes it
    derivation: str = ""
    optimizer_entry: TensorError | None = None  # the first optimizer state entry that differs
    evaluation: bool = False  # the replayed step is an evaluation step (eval mode, no optimizer step)

    @property
    def side(self) -> str:
        if self.fd is not None:
            return self.fd.side
        return {FORWARD: "the forward (manual and torch differ on the same input)", BUFFER: "the forward's buffer "
                "update", CLIP: "the clipping", OPTIMIZER: "the update rule", SCHEDULER: "the scheduler"}.get(
                    self.kind or "", "")

    def summary(self) -> str:
        """One line: the first wrong module (or rule) and the side, for failure messages."""
        if self.step is None:
            return "explain: every step passes"
        if self.kind is None:
            return f"explain: step {self.step} matches module by module"
        where = (f"{self.culprit.path or '(model)'}: {self.culprit.label}" if self.culprit is not None
                 else self.functions[0] if self.functions else self.kind)
        return f"explain: {where}, {self.kind} wrong: {self.side}"


def _tensor_pairs(kind: str, manual: list, torch_side: list) -> list[tuple]:
    pairs = []
    for i, (m, t) in enumerate(zip(manual, torch_side, strict=False)):
        m, t = (np.asarray(v) if isinstance(v, (np.generic, float)) else v for v in (m, t))
        if isinstance(m, np.ndarray) and isinstance(t, np.ndarray) and m.dtype.kind == "f":
            pairs.append((kind if len(manual) == 1 else f"{kind}.{i}", m, t))
    return pairs


def _module_pairs(m: ModuleRecord, t: ModuleRecord) -> list[tuple]:
    pairs = _tensor_pairs("output", m.outputs, t.outputs)
    pairs += _tensor_pairs("grad_output", m.grad_outputs, t.grad_outputs)
    pairs += _tensor_pairs("grad_input", m.grad_inputs, t.grad_inputs)
    pairs += [(f"grad.{name}", m.param_grads[name], t.param_grads.get(name)) for name in m.param_grads
              if m.param_grads[name] is not None and t.param_grads.get(name) is not None]
    return pairs


def _reference_values(path: str, reference: StepRecord | None, manual: ModuleRecord) -> dict:
    if reference is None or path not in reference.modules:
        return {}
    return {name: r for name, _, r in _module_pairs(manual, reference.modules[path])}


def _module_samples(samples: dict | None, owner: dict[str, tuple[str, str]]) -> dict | None:
    """The replay's samples of torch's error on the re-ordered batch (model names: grad.<path>.<param>, the
    gradients as the backward left them), by the keys of the modules' pairs (<path>\0grad.<param>)."""
    if samples is None:
        return None
    return {key: samples.get(f"grad.{path}.{name.removeprefix('grad.')}" if path else name)
            for key, (path, name) in owner.items() if name.startswith("grad.")}


def module_verdicts(replayed: ReplayedStep) -> list[ModuleVerdict]:
    """Every module the manual forward ran, in the order the forwards finished, its tensors compared."""
    tolerance, model = tolerance_for(replayed.dtype), error_model_for(replayed.dtype)
    pairs: list[tuple] = []
    reference: dict[str, object] = {}
    owner: dict[str, tuple[str, str]] = {}
    order = list(dict.fromkeys(replayed.manual.forward_order))
    for path in order:
        m, t = replayed.manual.modules[path], replayed.torch.modules[path]
        for name, m_value, t_value in _module_pairs(m, t):
            pairs.append((f"{path}\0{name}", m_value, t_value))
            owner[f"{path}\0{name}"] = (path, name)
        reference.update((f"{path}\0{name}", r) for name, r in _reference_values(path, replayed.reference, m).items())
    errors = compare_once(pairs, tolerance, model, reference if model is not None else None,
                          samples=_module_samples(replayed.unclipped_samples, owner))
    verdicts = {path: ModuleVerdict(path, replayed.manual.modules[path].label) for path in order}
    for error in errors:
        path, name = owner[error.name.split(" (")[0]]
        error.name = f"{path or '(model)'}: {name}"
        verdicts[path].errors[name] = error
    return list(verdicts.values())


def _step_errors(replayed: ReplayedStep) -> list[TensorError]:
    model = error_model_for(replayed.dtype)
    return compare_once(replayed.pairs, tolerance_for(replayed.dtype), model,
                        replayed.reference_values if model is not None else None, replayed.propagated,
                        replayed.start_magnitudes, replayed.samples)


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def find_culprit(replayed: ReplayedStep, verdicts: list[ModuleVerdict]) -> tuple[str | None, str | None, list]:
    """(path or None, kind, failing errors) by the rules of the module docstring."""
    by_path = {v.path: v for v in verdicts}
    for verdict in verdicts:
        if verdict.failed("output"):
            return verdict.path, FORWARD, verdict.failed("output")
    for path in dict.fromkeys(replayed.manual.backward_order):
        found = by_path.get(path)
        if found is None or not found.failed("grad_input", "grad."):
            continue
        if found.failed("grad_output") and path not in ("", LOSS):
            return _parent(path), BACKWARD, found.failed("grad_output")
        return path, BACKWARD, found.failed("grad_input", "grad.")
    step_errors = [e for e in _step_errors(replayed) if not e.passed]
    buffers = [e for e in step_errors if e.name.startswith("buffer.")]
    if buffers:
        return _parent(buffers[0].name.removeprefix("buffer.")), BUFFER, buffers
    grads = [e for e in step_errors if e.name.startswith("grad.")]
    if grads:
        return None, CLIP, grads
    rates = [e for e in step_errors if e.name.startswith("state.group")]
    if rates:
        return None, SCHEDULER, rates
    rest = [e for e in step_errors if e.name.startswith(("state.", "param."))]
    if rest:
        return None, OPTIMIZER, rest
    return None, None, step_errors


def explain_replayed(replayed: ReplayedStep, case_name: str, result: CaseResult | None = None) -> Explanation:
    verdicts = module_verdicts(replayed)
    path, kind, evidence = find_culprit(replayed, verdicts)
    explanation = Explanation(case_name, replayed.dtype, replayed.step, result, verdicts, kind=kind,
                              evidence=evidence, evaluation=not replayed.training)
    manual_modules = dict(replayed.manual_twin.model.named_modules())
    torch_modules = dict(replayed.torch_twin.model.named_modules())
    manual_modules[LOSS], torch_modules[LOSS] = replayed.manual_twin.loss_fn, replayed.torch_twin.loss_fn
    if path is not None:
        explanation.culprit = next(v for v in verdicts if v.path == path)
        module = manual_modules[path]
        wrong = tuple(e.name.rpartition(": grad.")[2] for e in evidence if ": grad." in e.name)
        explanation.functions, explanation.derivation = sources.computing(module, "forward" if kind in (
            FORWARD, BUFFER) else "backward", wrong)
        if kind == BACKWARD:
            record = replayed.manual.modules[path]
            explanation.fd = fd_check.check_alone(module, torch_modules[path], record.inputs, target=path == LOSS)
    elif kind == OPTIMIZER:
        explanation.functions, explanation.derivation = sources.optimizer_rule(replayed.manual_twin.optimizer)
        explanation.optimizer_entry = next((e for e in evidence if e.name.startswith("state.")), None)
    elif kind == SCHEDULER and replayed.manual_twin.scheduler is not None:
        explanation.functions, explanation.derivation = sources.optimizer_rule(replayed.manual_twin.scheduler)
    elif kind == CLIP and replayed.manual_twin.clip is not None:
        clip = replayed.manual_twin.clip
        explanation.functions, explanation.derivation = sources.function_rule(getattr(clip, "func", clip))
    return explanation


def explain_case(case, dtype: str, step: int | None = None, steps: int | None = None, device: str = "cpu",
                 seed: int = 0) -> Explanation:
    """Run the case as the main job does (unless `step` is given), then replay its first failing step (or `step`)
    module by module. Every step passing and no `step` asked for: an Explanation with step None."""
    result = None
    if step is None:
        result = run_case(case, dtype, device, steps, seed)
        if result.first_mismatch is None:
            return Explanation(case.name, dtype, None, result)
        step = result.first_mismatch.step
    return explain_replayed(replay_step(case, dtype, step, device, seed, steps), case.name, result)


def explain_twins(torch_twin, manual_twin, batches: list, step: int, dtype: str, name: str, device: str = "cpu",
                  seed: int | None = None) -> Explanation:
    """`explain_case` for twins in their initial state and the list of batches they were trained on
    (compare.testing's assert_model_trains_like keeps both for this)."""
    return explain_replayed(replay_twins(torch_twin, manual_twin, iter(batches), step, dtype, device, seed), name)
