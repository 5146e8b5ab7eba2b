"""The `curate` command line.

Each sub-command lives in its own module under `curate.commands` (listed in `COMMANDS`); a module exposes
`register(subparsers)`, which adds its parser and sets `func` to the function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from curate import __version__
from curate.errors import CurateError
from curate.openmp import OPT_IN, set_openmp_waiting

# command name -> module; only the module of the command being run is imported, so the CLI starts fast
COMMANDS = {
    "corpus": "curate.commands.corpus",
    "train-lm": "curate.commands.train_lm",
    "model": "curate.commands.model",
    "probes": "curate.commands.probes",
    "eval-probes": "curate.commands.eval_probes",
    "fit-factors": "curate.commands.fit_factors",
    "score": "curate.commands.score",
    "index": "curate.commands.index",
    "search": "curate.commands.search",
    "report": "curate.commands.report",
    "train-classifier": "curate.commands.train_classifier",
    "evaluate-classifier": "curate.commands.evaluate_classifier",
    "ship-classifier": "curate.commands.ship_classifier",
    "filter": "curate.commands.filter",
    "mix": "curate.commands.mix",
    "validate": "curate.commands.validate",
    "neurons": "curate.commands.neurons",
    "bench": "curate.commands.bench",
    "run": "curate.commands.run",
    "quickstart": "curate.commands.quickstart",
}

# commands that a rerun resumes where an interrupted run stopped (completed tasks, parts, cells or stages)
RESUMABLE = {"fit-factors", "score", "index", "filter", "validate", "run", "quickstart"}
_running: list[str | None] = []  # the commands main() is running, outermost first


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with just `only` (what `main` uses once it knows the command)."""
    parser = argparse.ArgumentParser(prog="curate", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--omp-spin", action="store_true", help=f"idle OpenMP threads spin briefly before they "
                        f"sleep (as {OPT_IN}=1 does; see docs/performance.md)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    # before any command imports torch, which reads OpenMP's settings once
    set_openmp_waiting(True if "--omp-spin" in argv[: argv.index(command) if command else None] else None)
    outermost = not _running  # a recipe runs each stage through main(): the outermost call reports Ctrl-C
    _running.append(command)
    try:
        # `curate --version` needs no command's parser, so it imports none
        only = command if command in COMMANDS else ("" if command is None and "--version" in argv else None)
        args = build_parser(only).parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
        )
        return int(args.func(args) or 0)
    except CurateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if not outermost:
            raise
        resume = "; rerun the same command to resume" if command in RESUMABLE else ""
        print(f"interrupted{resume}", file=sys.stderr)
        return 130  # what a shell reports for a process ended by Ctrl-C
    finally:
        _running.pop()


if __name__ == "__main__":
    sys.exit(main())
