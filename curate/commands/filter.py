"""`curate filter`: score a corpus with the procedural classifier at scale (datatrove), filter and/or reweight.

Examples:
    curate filter --run-dir runs/r --keep-fraction 0.3                   # keep the top 30%, local executor
    curate filter --corpus crawl/ --threshold 0.8 --tasks 64 --workers 16
    curate filter --corpus crawl/ --classifier builtin --keep-fraction 0.3   # the shipped classifier
    curate filter --reweight "0.0:0.5=0.5,0.5:0.9=1,0.9:1.0=2"           # annotate and up/down-sample
    curate filter --executor slurm --partition cpu --time 04:00:00 --tasks 1000 --workers 200
    curate filter --executor ray --ray-address auto --tasks 256
Rerunning the same command resumes: tasks with a completion marker in OUT/logs/completions are skipped.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from attribution.options import add_options, options_from
from curate.classify.builtin import classifier_path
from curate.corpus.options import add_corpus_arguments
from curate.errors import InputError
from curate.paths import CLASSIFIER_FILE, RunDir, add_run_dir_argument
from filters.arguments import ExecutorArguments, FilterOptions, parse_buckets


def register(subparsers) -> None:
    def all_but(*names: str) -> tuple[str, ...]:
        return tuple(f.name for f in fields(FilterOptions) if f.name not in names)

    parser = subparsers.add_parser(
        "filter", help="annotate a corpus with procedural scores, then filter and/or reweight it (datatrove)"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--corpus", type=Path, help="corpus to filter (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/filtered)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--classifier", help="classifier file, or `builtin[:NAME]` for a shipped one "
                       f"(default: RUN_DIR/classifier/{CLASSIFIER_FILE})")
    model.add_argument("--no-classifier", action="store_true", help="use the heuristic detectors only")
    add_corpus_arguments(parser)
    add_options(parser, FilterOptions, skip=all_but("fmt"))

    keep = parser.add_argument_group("what to keep (default: annotate only, keep everything)")
    add_options(keep.add_mutually_exclusive_group(), FilterOptions, skip=all_but("threshold", "keep_fraction"))
    keep.add_argument(
        "--reweight",
        help='bucket weights by score, e.g. "0.0:0.5=0.5,0.5:0.9=1,0.9:1.0=2": each document is emitted '
        "floor(w) times plus once more with probability frac(w); scores in no bucket keep weight 1",
    )
    keep.add_argument("--heuristic-min", action="append", default=[], metavar="NAME=VALUE", help="keep only "
                      "documents where some detector reaches its minimum (repeatable), e.g. code_line_ratio=0.3")
    add_options(keep, FilterOptions, skip=("threshold", "keep_fraction", "fmt"))

    execution = parser.add_argument_group("execution")
    add_options(execution, ExecutorArguments)
    execution.add_argument("--sbatch-arg", action="append", default=[], metavar="KEY=VALUE",
                           help="slurm: extra #SBATCH directive")
    parser.set_defaults(func=run_command)


def parse_pairs(pairs: list[str], flag: str, cast=str) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = cast(value)
        except ValueError as error:
            raise InputError(f"{flag} {pair!r}: {error}") from error
    return out


def run_command(args) -> int:
    from filters.pipeline import run_filter

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.filtered
    options = options_from(
        FilterOptions,
        args,
        corpus=args.corpus or run_dir.corpus,
        out=out,
        classifier=None if args.no_classifier else classifier_path(args.classifier or run_dir.classifier_file),
        reweight=parse_buckets(args.reweight) if args.reweight else None,
        heuristic_minimums=parse_pairs(args.heuristic_min, "--heuristic-min", float),
    )
    execution = options_from(ExecutorArguments, args, sbatch_args=parse_pairs(args.sbatch_arg, "--sbatch-arg"))
    summary = run_filter(options, execution)
    if summary is None:
        print(f"submitted to Slurm; rerun this command once the jobs finish to write {out / 'summary.json'}")
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2))
    print(f"kept documents in {out / 'kept'}, excluded in {out / 'excluded'}; summary in {out / 'summary.json'}")
    if not summary["accounted"]:
        raise InputError("read != kept + excluded: some documents are unaccounted for (see summary.json)")
    return 0
