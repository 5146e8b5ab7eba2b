"""`curate bench NAME`: benchmarks; each lives in `curate.bench.<name>` and registers its own sub-command."""

from __future__ import annotations

import importlib

BENCHMARKS = ["attribution", "filter"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks (e.g. `curate bench attribution`)")
    names = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name in BENCHMARKS:
        importlib.import_module(f"curate.bench.{name}").register(names)
