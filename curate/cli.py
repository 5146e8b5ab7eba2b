"""The `curate` command line.

Commands are noun groups (`curate influence score`, `curate study lds`) or single verbs (`filter`, `mix`, `run`).
Each top-level command lives in its own module under `curate.commands` (listed in `COMMANDS`); a module exposes
`register(subparsers)`, which adds its parser and sets `func` to the function that runs it (a group's module
registers its actions, often from modules of their own).
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
    "model": "curate.commands.model",
    "probes": "curate.commands.probes",
    "influence": "curate.commands.influence",
    "classifier": "curate.commands.classifier",
    "filter": "curate.commands.filter",
    "mix": "curate.commands.mix",
    "study": "curate.commands.study",
    "bench": "curate.commands.bench",
    "run": "curate.commands.run",
    "quickstart": "curate.commands.quickstart",
}

# commands (or "group action"s) that a rerun resumes where an interrupted run stopped (completed tasks, parts, cells
# or stages)
RESUMABLE = {"influence fit", "influence score", "influence index", "filter", "study removal", "study lds",
             "study mix", "study mix-sweep", "study anneal", "run", "quickstart"}
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
        action = argv[argv.index(command) + 1: argv.index(command) + 2] if command else []
        resumable = command in RESUMABLE or f"{command} {''.join(action)}" in RESUMABLE
        resume = "; rerun the same command to resume" if resumable else ""
        print(f"interrupted{resume}", file=sys.stderr)
        return 130  # what a shell reports for a process ended by Ctrl-C
    finally:
        _running.pop()


if __name__ == "__main__":
    sys.exit(main())
