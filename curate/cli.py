"""The `curate` command line.

Each sub-command lives in its own module under `curate.commands`; a module exposes
`register(subparsers)`, which adds its parser and sets `func` to the function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from curate.errors import UserFacingError

COMMAND_MODULES = [
    "curate.commands.corpus",
    "curate.commands.train_lm",
    "curate.commands.probes",
    "curate.commands.eval_probes",
    "curate.commands.train_classifier",
    "curate.commands.validate",
    "curate.commands.run",
    "curate.commands.quickstart",
    "curate.commands.filter",
    "curate.commands.mix",
    "curate.commands.report",
    "curate.commands.fit_factors",
    "curate.commands.score",
    "curate.commands.bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        result = args.func(args)
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
