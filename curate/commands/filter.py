"""`curate filter`: score a corpus with the procedural classifier at scale (datatrove), filter and/or reweight.

Examples:
    curate filter --run-dir runs/r --keep-fraction 0.3                   # keep the top 30%, local executor
    curate filter --corpus crawl/ --threshold 0.8 --tasks 64 --workers 16
    curate filter --reweight "0.0:0.5=0.5,0.5:0.9=1,0.9:1.0=2"           # annotate and up/down-sample
    curate filter --executor slurm --partition cpu --time 04:00:00 --tasks 1000 --workers 200
    curate filter --executor ray --ray-address auto --tasks 256
Rerunning the same command resumes: tasks with a completion marker in OUT/logs/completions are skipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from curate.corpus.io import FORMATS, add_corpus_arguments
from curate.errors import UserFacingError
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "filter", help="annotate a corpus with procedural scores, then filter and/or reweight it (datatrove)"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--corpus", type=Path, help="corpus to filter (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/filtered)")
    parser.add_argument(
        "--classifier", type=Path, help="classifier file (default: RUN_DIR/classifier/classifier.joblib)"
    )
    parser.add_argument("--no-classifier", action="store_true", help="use the heuristic detectors only")
    add_corpus_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output shard format")

    keep = parser.add_argument_group("what to keep (default: annotate only, keep everything)")
    which = keep.add_mutually_exclusive_group()
    which.add_argument("--threshold", type=float, help="keep documents with procedural_score >= THRESHOLD")
    which.add_argument(
        "--keep-fraction", type=float, help="keep this share of documents, the threshold set on a sample"
    )
    keep.add_argument(
        "--calibration-size", type=int, default=2000, help="documents scored to set the keep-fraction threshold"
    )
    keep.add_argument(
        "--reweight",
        help='bucket weights by score, e.g. "0.0:0.5=0.5,0.5:0.9=1,0.9:1.0=2": each document is emitted '
        "floor(w) times plus once more with probability frac(w); scores in no bucket keep weight 1",
    )
    keep.add_argument("--heuristics", action="store_true", help="also annotate the heuristic detector values")
    keep.add_argument(
        "--heuristic-min",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="keep only documents where some detector reaches its minimum (repeatable), e.g. code_line_ratio=0.3",
    )
    keep.add_argument("--seed", type=int, default=0, help="seed for the calibration sample and reweighting")
    keep.add_argument("--batch-size", type=int, default=256, help="documents scored per classifier call")

    run = parser.add_argument_group("execution")
    run.add_argument("--executor", choices=("local", "slurm", "ray"), default="local")
    run.add_argument("--tasks", type=int, default=1, help="datatrove tasks (shards of the input files)")
    run.add_argument("--workers", type=int, default=1, help="tasks run at the same time (-1: all)")
    run.add_argument("--overwrite", action="store_true", help="delete a previous run in OUT instead of resuming it")
    run.add_argument("--partition", help="slurm: partition")
    run.add_argument("--time", help="slurm: time limit per task, e.g. 04:00:00")
    run.add_argument("--cpus-per-task", type=int, default=1, help="slurm / ray: CPUs per task")
    run.add_argument("--mem-per-cpu-gb", type=float, default=2, help="slurm / ray: memory per CPU (GB)")
    run.add_argument("--job-name", default="curate_filter", help="slurm: job name")
    run.add_argument("--venv-path", help="slurm: activate script sourced by each job (default: this venv's)")
    run.add_argument(
        "--sbatch-arg", action="append", default=[], metavar="KEY=VALUE", help="slurm: extra #SBATCH directive"
    )
    run.add_argument("--no-wait", action="store_true", help="slurm: return after submitting (no summary)")
    run.add_argument("--poll-seconds", type=float, default=60, help="slurm: how often to check for completion")
    run.add_argument("--ray-address", help="ray: cluster address (default: start a local Ray instance)")
    parser.set_defaults(func=run_command)


def parse_pairs(pairs: list[str], flag: str, cast=str) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserFacingError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = cast(value)
        except ValueError as error:
            raise UserFacingError(f"{flag} {pair!r}: {error}") from error
    return out


def executor_options(args) -> dict:
    if args.executor == "slurm":
        import sys

        venv = args.venv_path or str(Path(sys.prefix) / "bin" / "activate")
        sbatch_args = parse_pairs(args.sbatch_arg, "--sbatch-arg")
        return {
            "partition": args.partition,
            "time": args.time,
            "cpus_per_task": args.cpus_per_task,
            "mem_per_cpu_gb": math.ceil(args.mem_per_cpu_gb),  # sbatch takes whole gigabytes here
            "job_name": args.job_name,
            "venv_path": venv,
            # datatrove writes its own --qos line after the extra directives, so pass the user's through it
            "qos": sbatch_args.pop("qos", "normal"),
            "sbatch_args": sbatch_args,
        }
    if args.executor == "ray":
        return {
            "cpus_per_task": args.cpus_per_task,
            "mem_per_cpu_gb": args.mem_per_cpu_gb,
            "ray_address": args.ray_address,
        }
    return {}


def run_command(args) -> int:
    from filters.pipeline import FilterOptions, run_filter
    from filters.reweight import parse_buckets

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.filtered
    classifier = None if args.no_classifier else (args.classifier or run_dir.classifier / "classifier.joblib")
    options = FilterOptions(
        corpus=args.corpus or run_dir.corpus,
        out=out,
        classifier=classifier,
        threshold=args.threshold,
        keep_fraction=args.keep_fraction,
        calibration_size=args.calibration_size,
        reweight=parse_buckets(args.reweight) if args.reweight else None,
        heuristics=args.heuristics,
        heuristic_minimums=parse_pairs(args.heuristic_min, "--heuristic-min", float),
        seed=args.seed,
        fmt=args.format,
        batch_size=args.batch_size,
        text_key=args.text_key,
        id_key=args.id_key,
        skip_bad_records=args.skip_bad_records,
    )
    workers = args.tasks if args.workers == -1 else args.workers
    summary = run_filter(
        options,
        executor=args.executor,
        tasks=args.tasks,
        workers=workers,
        executor_options=executor_options(args),
        overwrite=args.overwrite,
        wait=not args.no_wait,
        poll_seconds=args.poll_seconds,
    )
    if summary is None:
        print(f"submitted to Slurm; rerun this command once the jobs finish to write {out / 'summary.json'}")
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "steps"}, indent=2))
    print(f"kept documents in {out / 'kept'}, excluded in {out / 'excluded'}; summary in {out / 'summary.json'}")
    if not summary["accounted"]:
        raise UserFacingError("read != kept + excluded: some documents are unaccounted for (see summary.json)")
    return 0
