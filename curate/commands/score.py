"""`curate score`: the influence of every corpus document on every probe, into RUN_DIR/scores.

    curate score --run-dir runs/x                      EK-FAC (needs `curate fit-factors`)
    curate score --method dot|cosine|random            baselines through the same code path
    curate score --tasks 4 --workers 2                 datatrove tasks, each scoring a share of the corpus

Output: `part-XXXXX.parquet` (doc_id, doc_grad_norm, one float32 column per probe id: raw influence,
positive = the document raises the probe's log-probability) and `probes.json` (per-probe `nats`, the
completion's negative log-likelihood for per-nat normalisation, and the settings). Parts are written whole
(temporary file, then rename); running the same command again after a crash scores only the missing parts.
"""

from __future__ import annotations

import time
from pathlib import Path

from attribution.ekfac.factors import Factors
from attribution.ekfac.precondition import METHODS, Queries, ScoreArguments, precondition_queries
from attribution.ekfac.scoring import score_corpus
from curate.commands.fit_factors import add_model_arguments, load_model
from curate.corpus.io import BadRecords, add_corpus_arguments, read_documents
from curate.errors import UserFacingError
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser("score", help="score every document's influence on every probe")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--corpus", type=Path, help="corpus directory or file (default: RUN_DIR/corpus)")
    parser.add_argument("--probes", type=Path, help="probes jsonl (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--factors", type=Path, help="factors directory (default: RUN_DIR/factors)")
    parser.add_argument("--out", type=Path, help="scores directory (default: RUN_DIR/scores)")
    add_corpus_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("--method", choices=METHODS, default="ekfac", help="ekfac (default), dot, cosine or random")
    parser.add_argument("--rank", type=int, default=32, help="rank of each preconditioned query per layer (default 32)")
    parser.add_argument("--exact", action="store_true", help="keep full-rank queries instead of rank --rank")
    parser.add_argument("--damping", type=float, default=None, help="absolute damping for every layer")
    parser.add_argument("--damping-scale", type=float, default=0.1,
                        help="damping = this × mean corrected eigenvalue, per layer (default 0.1)")
    parser.add_argument("--modules", default=None, help="layer regex for dot/cosine without factors")
    parser.add_argument("--seed", type=int, default=0, help="seed of --method random")
    parser.add_argument("--documents-per-part", type=int, default=1000, help="documents per output part")
    parser.add_argument("--tasks", type=int, default=0,
                        help="run as N datatrove tasks (one part per task) instead of one process")
    parser.add_argument("--workers", type=int, default=1, help="datatrove tasks run at once (with --tasks)")
    parser.add_argument("--overwrite", action="store_true", help="replace scores from other settings")
    parser.set_defaults(func=run)


def score_arguments(args) -> ScoreArguments:
    return ScoreArguments(method=args.method, damping=args.damping, damping_scale=args.damping_scale,
                          rank=None if args.exact else args.rank, batch_size=args.batch_size,
                          max_length=args.max_length, modules=args.modules, seed=args.seed)


def build_queries(model, tokenizer, probes_path: Path, factors_path: Path, args: ScoreArguments) -> Queries:
    from attribution.probes import read_probes

    if not Path(probes_path).exists():
        raise UserFacingError(f"no probes at {probes_path}; run `curate probes` or pass --probes FILE")
    # Baselines use the factors' layers when factors exist, so that every method scores the same parameters.
    have_factors = (Path(factors_path) / "factors.safetensors").exists()
    factors = Factors.load(factors_path) if args.method == "ekfac" or (have_factors and args.modules is None) else None
    return precondition_queries(model, tokenizer, read_probes(probes_path), factors, args)


def run(args) -> int:
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.scores
    corpus = args.corpus or run_dir.corpus
    model_path = args.model or run_dir.model
    probes_path, factors_path = args.probes or run_dir.probes, args.factors or run_dir.factors
    if args.tasks:
        from filters.influence import run_scoring_pipeline

        run_scoring_pipeline(corpus, out, model_path, probes_path, factors_path, score_arguments(args),
                             tasks=args.tasks, workers=args.workers, text_key=args.text_key, id_key=args.id_key,
                             overwrite=args.overwrite, threads=args.threads)
        print(f"scores of {args.tasks} tasks -> {out}")
        return 0

    model, tokenizer = load_model(model_path, args.device, args.threads)
    start = time.perf_counter()
    queries = build_queries(model, tokenizer, probes_path, factors_path, score_arguments(args))
    bad = BadRecords(out / "bad_records.jsonl") if args.skip_bad_records else None
    documents = read_documents(corpus, args.text_key, args.id_key, bad)
    summary = score_corpus(model, tokenizer, documents, queries, out, args.documents_per_part, args.overwrite)
    seconds = time.perf_counter() - start
    print(f"{args.method} scores of {summary['documents_scored']} documents × {len(queries.probe_ids)} probes in "
          f"{seconds:.1f} s: {summary['parts_written']} parts written, {summary['parts_kept']} kept from an "
          f"earlier run -> {out}")
    if summary["skipped"].total:
        print(f"skipped {summary['skipped'].total} documents: {summary['skipped']}")
    return 0
