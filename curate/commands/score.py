"""`curate influence score`: the influence of every corpus document on every probe, into RUN_DIR/scores.

    curate influence score --run-dir runs/x                      EK-FAC (needs `curate influence fit`)
    curate influence score --method dot|cosine|random            baselines through the same code path
    curate influence score --baselines cosine dot                EK-FAC and baselines in one pass: RUN_DIR/scores-cosine, ...
    curate influence score --tasks 4 --workers 2                 datatrove tasks, each scoring a share of the corpus
    curate influence score --tasks 64 --executor slurm --partition cpu --time 01:00:00   the same on Slurm (or Ray)

Output: `part-*.parquet` (doc_id, doc_grad_norm, one float32 column per probe id: raw influence, positive =
the document raises the probe's log-probability), `probes.json` (per-probe `nats`, the completion's negative
log-likelihood for per-nat normalisation, and the settings), `queries.safetensors` and `manifest.json` (what
made the scores). Parts are written whole (temporary file, then rename); running the same command again after
a crash reuses the queries and scores only the missing parts; other inputs or settings are refused. The memory
it needs is estimated first and held to --memory-budget.
"""

from __future__ import annotations

from pathlib import Path

from attribution.ekfac.arguments import DeviceArguments, ScoreArguments, ScoreRunArguments
from attribution.options import add_options, options_from
from curate.commands.fit_factors import add_task_options, execution_options
from curate.corpus.options import add_corpus_arguments
from curate.errors import InputError
from curate.paths import RunDir, add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser("score", help="score every document's influence on every probe")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--corpus", type=Path, help="corpus directory or file (default: RUN_DIR/corpus)")
    parser.add_argument("--probes", type=Path, help="probes jsonl (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--factors", type=Path, help="factors directory (default: RUN_DIR/factors)")
    parser.add_argument("--out", type=Path, help="scores directory (default: RUN_DIR/scores)")
    add_corpus_arguments(parser)
    add_options(parser, ScoreArguments)
    parser.add_argument("--exact", action="store_true", help="keep full-rank queries instead of rank --rank")
    add_options(parser, DeviceArguments)
    add_options(parser, ScoreRunArguments)
    add_task_options(parser, "run as N datatrove tasks (one share of the corpus each)")
    parser.add_argument("--index", type=Path, help="score from this gradient store (`curate influence index`), reading no corpus")
    parser.add_argument("--overwrite", action="store_true", help="delete the scores in OUT and score from the start "
                        "(default: resume scores from the same inputs and settings, refuse others)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from attribution.ekfac.stages import Corpus, score_stage
    from curate.probes.sets import read_probes
    from filters.influence import score_on_tasks

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.scores
    corpus = Corpus(args.corpus or run_dir.corpus, args.text_key, args.id_key, args.skip_bad_records)
    model, probes, factors = args.model or run_dir.model, args.probes or run_dir.probes, args.factors or run_dir.factors
    score_args = options_from(ScoreArguments, args, rank=None if args.exact else args.rank)
    device, run_args, execution = options_from(DeviceArguments, args), options_from(ScoreRunArguments, args), \
        execution_options(args)
    if args.index:
        return score_index(args, model, probes, factors, out, score_args, device)
    if args.tasks:
        whole = score_on_tasks(corpus, model, probes, factors, out, score_args, execution, device, run_args,
                               read_probes=read_probes)
        if whole is None:
            print(f"submitted to Slurm; rerun this command once the jobs finish to check the scores in {out}")
        else:
            print(f"{args.method} scores of {whole['documents']} documents in {whole['parts']} parts by "
                  f"{args.tasks} tasks -> {out}" + _beside(run_args, out))
        return 0

    summary = score_stage(corpus, model, probes, factors, out, score_args, device, run_args, args.overwrite,
                          read_probes=read_probes)
    print(f"{args.method} scores of {summary['documents_scored']} documents × {summary['probes']} probes in "
          f"{summary['seconds']:.1f} s: {summary['parts_written']} parts written, {summary['parts_kept']} kept from "
          f"an earlier run -> {out}" + _beside(run_args, out))
    if summary["skipped"].total:
        print(f"skipped {summary['skipped'].total} documents: {summary['skipped']}")
    return 0


def _beside(run_args: ScoreRunArguments, out: Path) -> str:
    return "".join(f", {method} -> {run_args.baseline_folder(out, method)}" for method in run_args.baselines)


def score_index(args, model, probes, factors, out, score_args, device) -> int:
    from attribution.store.query import score_from_store
    from curate.probes.sets import read_probes

    if args.tasks:
        raise InputError("--index scores from the store in this process, fast: drop --tasks")
    done = score_from_store(args.index, model, probes, factors, out, score_args, device, args.overwrite,
                            read_probes=read_probes)
    print(f"{args.method} scores of {done['documents']} stored documents × {done['probes']} probes from {args.index} "
          f"in {done['seconds']:.1f} s -> {out}")
    return 0
