"""`python -m compare` (the check), and its other subcommands. `python -m compare --help` lists them."""
import argparse
import importlib
import sys

# subcommand -> module with add_arguments(parser) and main(args) -> exit code
SUBCOMMANDS = {
    "check": ("compare.check", "run the catalogue on both backends, step by step (the default)"),
    "cv": ("compare.cv", "cross-validate one recipe on a real dataset with both backends (and scikit-learn)"),
    "train": ("compare.train", "train both backends side by side on a real dataset, epoch by epoch"),
    "plots": ("compare.plots", "draw the six figures from both backends' computations (PNG + JSON data)"),
    "bench": ("compare.bench", "time training steps: manual vs torch (CPU, CUDA) vs scikit-learn vs the GEMM peak"),
    "ddp": ("compare.ddp", "train torch_ref models under DistributedDataParallel (gloo, this machine) against manual"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        argv.insert(0, "check")
    parser = argparse.ArgumentParser(prog="python -m compare", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        importlib.import_module(module_name).add_arguments(sub)
    args = parser.parse_args(argv)
    return importlib.import_module(SUBCOMMANDS[args.command][0]).main(args)


if __name__ == "__main__":
    sys.exit(main())
