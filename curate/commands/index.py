"""`curate influence index`: one pass over a corpus keeps every document's compressed gradient, into RUN_DIR/store.

    curate influence index --run-dir runs/x                          eigen, 5% of each layer's bytes, int2 (needs factors)
    curate influence index --share 0.1 --precision int4              twice the bytes, in 4-bit numbers
    curate influence index --compression logra --dims 64             seeded Gaussian projections, no factors needed
    curate influence index --precision float32 --dims 0              every direction, exactly: the full scores
    curate influence index --tasks 8 --workers 2 [--executor slurm|ray]   as datatrove tasks, one share each

Then `curate influence score --index RUN_DIR/store` scores any probe set without reading the corpus again, and
`curate influence search` finds the documents closest to a probe or a text. Shards are written whole; a rerun skips the
shards that exist; other inputs or settings are refused. The memory and disk it needs are printed first.
"""

from __future__ import annotations

from pathlib import Path

from attribution.ekfac.arguments import DeviceArguments
from attribution.options import add_options, options_from
from attribution.store.arguments import IndexArguments
from curate.commands.fit_factors import add_task_options, execution_options
from curate.corpus.options import add_corpus_arguments
from curate.paths import RunDir, add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser("index", help="store every document's compressed gradient for fast scoring")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--corpus", type=Path, help="corpus directory or file (default: RUN_DIR/corpus)")
    parser.add_argument("--factors", type=Path, help="factors directory (default: RUN_DIR/factors)")
    parser.add_argument("--out", type=Path, help="store directory (default: RUN_DIR/store)")
    add_corpus_arguments(parser)
    add_options(parser, IndexArguments)
    add_options(parser, DeviceArguments)
    add_task_options(parser, "run as N datatrove tasks (one share of the corpus each)")
    parser.add_argument("--overwrite", action="store_true", help="delete the store in OUT and build it from the start "
                        "(default: resume one from the same inputs and settings, refuse others)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from attribution.ekfac.stages import Corpus
    from attribution.store.index import index_stage
    from filters.store import index_on_tasks

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.store
    corpus = Corpus(args.corpus or run_dir.corpus, args.text_key, args.id_key, args.skip_bad_records)
    model, factors = args.model or run_dir.model, args.factors or run_dir.factors
    index_args, device, execution = options_from(IndexArguments, args), options_from(DeviceArguments, args), \
        execution_options(args)
    if args.tasks:
        whole = index_on_tasks(corpus, model, factors, out, index_args, execution, device)
        if whole is None:
            print(f"submitted to Slurm; rerun this command once the jobs finish to check the store in {out}")
        else:
            print(f"{index_args.describe()} of {whole['documents']} documents in {whole['shards']} shards "
                  f"by {args.tasks} tasks -> {out}")
        return 0
    summary = index_stage(corpus, model, factors, out, index_args, device, args.overwrite)
    print(f"{index_args.describe()} of {summary['documents']} documents in {summary['seconds']:.1f} s: "
          f"{summary['shards_written']} shards written, {summary['shards_kept']} kept "
          f"from an earlier run -> {out}")
    if summary["skipped"].total:
        print(f"skipped {summary['skipped'].total} documents: {summary['skipped']}")
    return 0
