"""Hand-derived NumPy backprop checked against PyTorch autograd, step by step.

`python -m compare` (or `python -m compare check`) runs the training catalogue: each case builds one model on
both backends (manual, by hand in NumPy; torch_ref, in PyTorch) from the same weights, trains both on the same
batches, and compares outputs, losses, gradients, parameters and optimizer state at every step, in float32 and
float64. It prints one row per case run, PASS or FAIL, with the first and the worst mismatch of each failure,
and exits 1 on any FAIL (2 for a command line it refuses). The other commands are listed below;
`python -m compare COMMAND --help` shows each one's options.
"""
import sys

from compare.workers import server

if __name__ == "__main__":  # the check's worker processes start importing now, while this one imports the rest
    server.start_early(sys.argv[1:])

import argparse  # noqa: E402
import atexit  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402

import compare  # noqa: E402
from compare import registry  # noqa: E402
from compare.cli.arguments import Parser, UsageError, install_hint, module_name, nearest  # noqa: E402

PROG = "python -m compare"
# subcommand -> (module with add_arguments(parser) and main(args) -> exit code, what it does, the extra it needs)
SUBCOMMANDS = {
    "check": ("compare.cli.check", "run the catalogue on both backends, step by step (the default)", None),
    "cv": ("compare.cli.cv", "cross-validate one recipe on a real dataset with both backends (and scikit-learn)",
           "sklearn"),
    "train": ("compare.cli.train", "train both backends side by side on a real dataset, epoch by epoch", "sklearn"),
    "plots": ("compare.cli.plots", "draw the seven figures from both backends' computations (PNG + JSON data)", "plot"),
    "bench": ("compare.cli.bench", "time training steps: manual vs torch (CPU, CUDA) vs scikit-learn vs the GEMM peak",
              None),
    "ddp": ("compare.cli.ddp", "train torch_ref models under DistributedDataParallel (gloo, this machine) against "
                               "manual", None),
    "explain": ("compare.cli.explain", "replay a failing case module by module and name the first wrong layer", None),
    "kernels": ("compare.cli.kernels", "the check (or the tests) under every CPU kernel setting of torch and OpenBLAS",
                None),
}
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")
PLUGIN_COMMANDS = ("check", "explain")  # they load plugins (compare.registry.load_plugins) before selecting cases


class Versions(argparse.Action):
    """--version: this package's, NumPy's and torch's versions, on stdout (torch imported only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the versions and exit"):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        import numpy
        import torch
        print(f"backprop-crosscheck {compare.__version__} (numpy {numpy.__version__}, torch {torch.__version__})")
        parser.exit()


def build_parser(command: str = "check") -> tuple[Parser, dict[str, Parser]]:
    """The top-level parser, whose help ends with the check's own options, and one parser per subcommand, whose
    description says what it does and which optional extra it needs. Only `command`'s options and the check's are
    added: the other subcommands' modules are not imported. (None imports torch before its `main` accepts the
    command line: tests/workers/test_process_start_and_end.py.)"""
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=Versions)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {}
    for name, (module, help_text, extra) in SUBCOMMANDS.items():
        description = help_text[0].upper() + help_text[1:] + "." + (f" Needs {install_hint(extra)}." if extra else "")
        commands[name] = subparsers.add_parser(name, help=help_text,
                                               description=textwrap.fill(description, 100, break_on_hyphens=False),
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
        if name not in (command, "check"):
            continue
        importlib.import_module(module).add_arguments(commands[name])
        if name in PLUGIN_COMMANDS:
            commands[name].add_argument(
                "--plugin", action="append", default=[], type=module_name, metavar="PKG.MODULE",
                help="import a module that registers classes and cases (compare.registry) first; repeatable. "
                     f"Installed packages' entry points (group {registry.ENTRY_POINT_GROUP}) are loaded too")
    check_options = "".join(line for line in commands["check"].format_help().split("options:\n", 1)[1]
                            .splitlines(keepends=True) if not line.startswith("  -h, --help"))
    parser.epilog = f"options of the check ({PROG} [check] [options]):\n{check_options}"
    return parser, commands


def parse(argv: list[str]):
    """The parsed arguments; a command line that names no subcommand runs `check`. Raises UsageError."""
    if not argv or argv[0].startswith("-") and argv[0] not in TOP_LEVEL_OPTIONS:
        argv = ["check", *argv]
    elif argv[0] not in SUBCOMMANDS and argv[0] not in TOP_LEVEL_OPTIONS:
        raise UsageError(f"invalid choice: {argv[0]!r} (choose from {', '.join(SUBCOMMANDS)})"
                         + nearest(argv[0], SUBCOMMANDS), PROG)
    parser, commands = build_parser(argv[0] if argv[0] in SUBCOMMANDS else "check")
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = commands[args.command]
        options = [o for action in command._actions for o in action.option_strings]
        hint = next((nearest(word, options) for word in extras if word.startswith("-")), "")
        hint += next((f" (the subcommand comes first: {PROG} {word} [options])" for word in extras
                      if word in SUBCOMMANDS), "")
        raise UsageError(f"unrecognized arguments: {' '.join(extras)}{hint}", command.prog)
    return args


def main(argv=None) -> int:
    """Run one command line; returns the exit status (2: refused before any work, 130: interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = PROG
    server.start_early(argv)  # (already running when `python -m compare` started it on import)
    try:
        try:
            args = parse(argv)
        except SystemExit as exit:  # --help, --version
            return exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 2
        prog = f"{PROG} {args.command}"
        if args.command in PLUGIN_COMMANDS:
            try:
                registry.load_plugins(args.plugin)
            except registry.PluginError as error:
                raise UsageError(str(error)) from None
        return importlib.import_module(SUBCOMMANDS[args.command][0]).main(args)
    except UsageError as error:
        print(f"{error.prog or prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def run() -> int:
    """`main` for a process: a reader that goes away (`python -m compare --list | head -1`) ends it quietly,
    with the status of a process killed by SIGPIPE (141), as `yes | head -1` does, and no traceback."""
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows up here when the output is still in the buffer
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's own flush must not fail again
        return 128 + signal.SIGPIPE
    return status


def end_process(status: int) -> None:
    """End this process with `status` once `run` is done: the atexit handlers run (multiprocessing's, logging's,
    a coverage tool's) and the streams are flushed as at a normal exit, but the interpreter's teardown of every
    module, about 0.35 s once torch is imported, is skipped. A normal exit where a non-daemon thread is still
    running (it would be waited for)."""
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone, or a stream closed: nothing left to write there
            pass
    os._exit(status)


if __name__ == "__main__":
    end_process(run())
