"""`curate fit-factors`: EK-FAC factors of a model on a corpus, saved to RUN_DIR/factors.

One machine:   curate fit-factors --run-dir runs/x
Sharded:       the statistics are sums, so N tasks can each fit a share of the corpus and be merged:
    curate fit-factors --shard K --num-shards N   (for K = 0..N-1: covariance sums of share K)
    curate fit-factors --merge                    (merge them, eigendecompose)
    curate fit-factors --shard K --num-shards N   (for K = 0..N-1: corrected-eigenvalue sums in that basis)
    curate fit-factors --merge                    (merge them into the factors)
or all of it as local datatrove tasks: curate fit-factors --tasks N --workers W (filters.influence has the step).
A one-machine run that is killed keeps its covariance sums (`covariance.safetensors`) and resumes after them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from attribution.ekfac.factors import (
    FactorArguments,
    Factors,
    Statistics,
    eigendecompose,
    fit_covariances,
    fit_lambdas,
    merge,
    model_fingerprint,
)
from attribution.ekfac.modules import DEFAULT_MODULES
from curate.corpus.io import BadRecords, add_corpus_arguments, read_documents
from curate.errors import UserFacingError
from curate.paths import RunDir, add_run_dir_argument

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser("fit-factors", help="fit EK-FAC factors of a model on a corpus")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--corpus", type=Path, help="corpus directory or file (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="factors directory (default: RUN_DIR/factors)")
    add_corpus_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("--modules", default=DEFAULT_MODULES, help="regex over layer names (default: MLP linears)")
    parser.add_argument("--fisher", choices=("true", "empirical"), default="true",
                        help="gradients from labels sampled from the model (true) or the data (empirical)")
    parser.add_argument("--max-documents", type=int, default=None, help="fit on the first N documents only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the true Fisher's sampled labels")
    parser.add_argument("--shard", type=int, default=None, help="fit only share K of the corpus (with --num-shards)")
    parser.add_argument("--num-shards", type=int, default=None, help="number of shares the corpus is split into")
    parser.add_argument("--merge", action="store_true", help="merge the shares' statistics fitted so far")
    parser.add_argument("--tasks", type=int, default=0,
                        help="run both stages as N datatrove tasks (one share each), merging between them")
    parser.add_argument("--workers", type=int, default=1, help="datatrove tasks run at once (with --tasks)")
    parser.add_argument("--overwrite", action="store_true", help="refit even if factors exist")
    parser.set_defaults(func=run)


def add_model_arguments(parser) -> None:
    """Options shared by fit-factors and score."""
    parser.add_argument("--batch-size", type=int, default=8, help="documents per forward+backward (default: 8)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per document, truncated (default: 512)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def load_model(path: Path, device: str = "cpu", threads: int | None = None):
    """A local Hugging Face causal LM and its tokenizer, in float32 and eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    if not Path(path).is_dir():
        raise UserFacingError(f"no model at {path}; train one (`curate train-lm`) or pass --model DIR")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise UserFacingError(f"cannot load a causal LM and tokenizer from {path}: {error}") from error
    return model, tokenizer


def run(args) -> int:
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.factors
    corpus = args.corpus or run_dir.corpus
    if (args.shard is None) != (args.num_shards is None):
        raise UserFacingError("--shard and --num-shards go together")
    if args.shard is not None and not 0 <= args.shard < args.num_shards:
        raise UserFacingError(f"--shard must be in 0..{args.num_shards - 1}")
    if (out / "factors.safetensors").exists() and not args.overwrite:
        print(f"factors already fitted in {out} (pass --overwrite to refit)")
        return 0

    factor_args = FactorArguments(modules=args.modules, fisher=args.fisher, batch_size=args.batch_size,
                                  max_length=args.max_length, max_documents=args.max_documents, seed=args.seed)
    if args.tasks:
        from filters.influence import run_fitting_pipeline

        if args.overwrite:
            shutil.rmtree(out, ignore_errors=True)
        factors = run_fitting_pipeline(corpus, out, args.model or run_dir.model, factor_args, args.tasks,
                                       args.workers, args.text_key, args.id_key, args.threads)
        print(f"fitted EK-FAC factors on {args.tasks} datatrove tasks ({factors.header['covariance_documents']} "
              f"documents) -> {out}")
        return 0
    model, tokenizer = load_model(args.model or run_dir.model, args.device, args.threads)
    bad = BadRecords(out / "bad_records.jsonl") if args.skip_bad_records else None
    # The second pass meets the same bad records again: count them once.
    again = BadRecords(os.devnull) if args.skip_bad_records else None

    def documents(rank: int = 0, world_size: int = 1, first_pass: bool = True):
        records = bad if first_pass else again
        return read_documents(corpus, args.text_key, args.id_key, records, rank=rank, world_size=world_size)

    covariance_file = out / "covariance.safetensors"
    covariances = _load_if_current(covariance_file, model, factor_args, args.overwrite)
    if args.merge:
        return _merge(out, covariances, covariance_file)
    if args.shard is not None:
        stage = "covariance" if covariances is None else "lambda"
        if covariances is None:
            statistics = fit_covariances(model, tokenizer, documents(args.shard, args.num_shards), factor_args)
        else:
            share = documents(args.shard, args.num_shards, first_pass=False)
            statistics = fit_lambdas(model, tokenizer, share, eigendecompose(covariances), factor_args)
        path = out / "partial" / f"{stage}-{args.shard:05d}-of-{args.num_shards:05d}.safetensors"
        statistics.save(path)
        print(f"{stage} statistics of share {args.shard}/{args.num_shards}: {statistics.documents} documents, "
              f"{statistics.tokens} tokens -> {path}; run --merge when every share is done")
        return 0

    if covariances is None:
        covariances = fit_covariances(model, tokenizer, documents(), factor_args)
        covariances.save(covariance_file)
    bases = eigendecompose(covariances)
    lambdas = fit_lambdas(model, tokenizer, documents(first_pass=False), bases, factor_args)
    factors = Factors.from_statistics(covariances, bases, lambdas)
    factors.save(out)
    _report(factors, out, covariances)
    return 0


def _load_if_current(path: Path, model, factor_args: FactorArguments, overwrite: bool) -> Statistics | None:
    """Covariance sums from an earlier (interrupted or sharded) run, if they belong to this model and setting."""
    if not path.exists() or overwrite:
        return None
    statistics = Statistics.load(path)
    header = statistics.header
    if header["fingerprint"] != model_fingerprint(model):
        raise UserFacingError(f"{path} was fitted on another model; pass --overwrite to start again")
    if (header["fisher"], header["module_pattern"]) != (factor_args.fisher, factor_args.modules):
        raise UserFacingError(f"{path} was fitted with fisher={header['fisher']}, modules={header['module_pattern']}; "
                              "pass the same options or --overwrite")
    return statistics


def _merge(out: Path, covariances: Statistics | None, covariance_file: Path) -> int:
    stage = "covariance" if covariances is None else "lambda"
    parts = sorted((out / "partial").glob(f"{stage}-*-of-*.safetensors"))
    if not parts:
        raise UserFacingError(f"no {stage} statistics in {out / 'partial'} to merge; fit the shares first")
    expected = int(parts[0].stem.split("-of-")[1])
    if len(parts) != expected:
        raise UserFacingError(f"{len(parts)} of {expected} shares' {stage} statistics are done; fit the rest first")
    merged = merge(Statistics.load(part) for part in parts)
    if covariances is None:
        merged.save(covariance_file)
        print(f"merged covariance statistics of {expected} shares ({merged.documents} documents); "
              "now fit the corrected eigenvalues: --shard K --num-shards N for each share, then --merge")
        return 0
    factors = Factors.from_statistics(covariances, eigendecompose(covariances), merged)
    factors.save(out)
    _report(factors, out, covariances)
    return 0


def _report(factors: Factors, out: Path, covariances: Statistics) -> None:
    header = factors.header
    print(f"fitted EK-FAC factors ({header['fisher']} Fisher) for {len(header['modules'])} layers on "
          f"{header['covariance_documents']} documents, {header['covariance_tokens']} tokens -> {out}")
    if covariances.skipped.total:
        print(f"skipped {covariances.skipped.total} documents: {covariances.skipped}")
