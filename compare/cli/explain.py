"""`python -m compare explain CASE [--dtype D] [--step N] [--plot PATH]`: replay a training case to its first
failing step (or step N) with per-module records on both sides and name the first module that goes wrong, the
side that is wrong and the manual code that computes it (compare/explain/). Exit status 1 when something
differs, 0 when every step (or step N) matches."""
import difflib

from compare.catalogue import case_types, training_cases
from compare.cli import arguments


def add_arguments(parser) -> None:
    parser.add_argument("case", metavar="CASE", help="the training case's full name (python -m compare --list)")
    parser.add_argument("--dtype", choices=case_types.DTYPES,
                        help="the dtype to explain (default: float64, then float32 when float64 passes)")
    parser.add_argument("--step", type=arguments.int_in(0, name="step"), metavar="N",
                        help="replay step N (from 0) instead of the first failing one")
    parser.add_argument("--steps", type=arguments.positive_int, metavar="N",
                        help="steps to run when looking for the first failing one (default: the case's)")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="seed of weights and batches (default 0)")
    parser.add_argument("--plot", type=arguments.output_file, metavar="PATH",
                        help="also draw each tensor's error / bound over the steps (PNG; needs the extra [plot])")


def find_case(name: str):
    """The training case named exactly `name` (built-in or registered); refuses any other name."""
    cases = training_cases.select(None)
    found = next((case for case in cases if case.name == name), None)
    if found is None:
        close = difflib.get_close_matches(name, [case.name for case in cases], n=3, cutoff=0.5)
        raise arguments.UsageError(f"no training case named {name!r} among the {len(cases)}"
                                   + (f"; close: {', '.join(close)}" if close else "; --list shows them"))
    return found


def main(args) -> int:
    case = find_case(args.case)
    if args.dtype is not None and args.dtype not in case.dtypes:
        raise arguments.UsageError(f"--dtype {args.dtype}: {case.name} runs in {', '.join(case.dtypes)} only")
    steps = args.steps or case.steps
    last = steps + case.eval_steps - 1  # the evaluation steps come after the training steps
    if args.step is not None and args.step > last:
        raise arguments.UsageError(f"--step {args.step}: {case.name} runs {last + 1} steps (0 to {last})")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise arguments.missing_extra("plot", "explain --plot") from None
    # here, once the command line is accepted: `--help` and a refusal need no torch (1 s)
    from compare.engine.step_loop import run_case
    from compare.explain import plot, report
    from compare.explain.verdict import explain_case

    dtypes = [args.dtype] if args.dtype else [d for d in ("float64", "float32") if d in case.dtypes]
    for dtype in dtypes:
        explanation = explain_case(case, dtype, args.step, steps, seed=args.seed)
        if explanation.step is not None and (explanation.kind is not None or args.step is not None):
            break
    print(report.render(explanation))
    if args.plot:
        result = explanation.result or run_case(case, explanation.dtype, "cpu", steps, args.seed)
        plot.draw(result, args.plot)
        print(f"plot: {args.plot}")
    return 0 if explanation.kind is None else 1
