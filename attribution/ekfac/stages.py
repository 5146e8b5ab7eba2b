"""The influence stages on files, as `curate fit-factors` and `curate score` run them in one process, and as
the datatrove steps of `filters.influence` run them on many tasks.

A factors folder holds, besides the factors (`factors.safetensors`, `factors.json`):
    covariance.safetensors                           the merged covariance sums; a killed run resumes after them
    partial/{stage}-{K:05d}-of-{N:05d}.safetensors   one share's sums, stage "covariance" or "lambda"
Sharded fitting is a two-step state machine over these files: `fit_share` sums the stage the folder is at
(covariances until `covariance.safetensors` exists, corrected eigenvalues in its eigenbasis after) over one
share of the corpus, and `merge_shares` merges the shares into `covariance.safetensors` or the factors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.ekfac.factors import (
    FACTORS_FILE,
    FactorArguments,
    Factors,
    Statistics,
    eigendecompose,
    fit_covariances,
    fit_lambdas,
    merge,
    model_fingerprint,
)
from attribution.ekfac.precondition import Queries, ScoreArguments, precondition_queries
from attribution.ekfac.scoring import DOCUMENTS_PER_PART, prepare_output, score_corpus
from curate.corpus.io import BadRecords, make_reader
from curate.errors import InputError
from curate.lm.load import load_causal_lm
from curate.options import option

if TYPE_CHECKING:
    from datatrove.data import Document
    from datatrove.pipeline.readers.base import BaseReader

COVARIANCE_FILE = "covariance.safetensors"
BAD_RECORDS_FILE = "bad_records.jsonl"


@dataclass
class DeviceArguments:
    """Where the model runs, for fitting and scoring alike."""

    device: str = option("cpu", "torch device")
    threads: int | None = option(None, "torch CPU threads (None: torch's choice)")

    def load(self, path: Path, max_length: int):
        """The model and tokenizer at `path`; a `max_length` beyond the model's positions is refused here."""
        return load_causal_lm(path, self.device, threads=self.threads, max_length=max_length)


@dataclass
class Corpus:
    """A corpus on disk and how to read it (see `curate.corpus.io`)."""

    path: Path
    text_key: str = "text"
    id_key: str = "id"
    skip_bad_records: bool = False  # count malformed records into a file instead of stopping at the first

    def reader(self, bad_records: Path | str) -> BaseReader:
        """A datatrove reader; with `skip_bad_records`, malformed records are written to `bad_records`."""
        bad = BadRecords(bad_records) if self.skip_bad_records else None
        # absolute, so that workers started elsewhere (Ray, Slurm) find the files
        return make_reader(Path(self.path).absolute(), self.text_key, self.id_key, bad)

    def read(self, bad_records: Path | str, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        return self.reader(bad_records).run(rank=rank, world_size=world_size)


def bad_records_file(out: Path, first_pass: bool = True) -> Path | str:
    """Fitting reads the corpus twice and meets the same bad records again: count them in the first pass only."""
    return Path(out) / BAD_RECORDS_FILE if first_pass else os.devnull


# ---------------------------------------------------------------------------------------------------------
# Fitting factors


def factors_fitted(folder: Path) -> bool:
    return (Path(folder) / FACTORS_FILE).exists()


def share_file(folder: Path, stage: str, rank: int, world_size: int) -> Path:
    return Path(folder) / "partial" / f"{stage}-{rank:05d}-of-{world_size:05d}.safetensors"


def load_covariances(folder: Path, model, args: FactorArguments, overwrite: bool = False) -> Statistics | None:
    """Covariance sums from an earlier (interrupted or sharded) run, if they belong to this model and setting."""
    path = Path(folder) / COVARIANCE_FILE
    if not path.exists() or overwrite:
        return None
    statistics = Statistics.load(path)
    header = statistics.header
    if header["fingerprint"] != model_fingerprint(model):
        raise InputError(f"{path} was fitted on another model; pass --overwrite to start again")
    if (header["fisher"], header["module_pattern"]) != (args.fisher, args.modules):
        raise InputError(f"{path} was fitted with fisher={header['fisher']}, modules={header['module_pattern']}; "
                         "pass the same options or --overwrite")
    return statistics


def fit_share(model, tokenizer, documents: Iterable, folder: Path, args: FactorArguments, rank: int = 0,
              world_size: int = 1, overwrite: bool = False) -> Statistics:
    """The sums of the stage `folder` is at over one share of the corpus, saved to `share_file` for `merge_shares`."""
    covariances = load_covariances(folder, model, args, overwrite)
    if covariances is None:
        statistics = fit_covariances(model, tokenizer, documents, args)
    else:
        statistics = fit_lambdas(model, tokenizer, documents, eigendecompose(covariances), args)
    statistics.save(share_file(folder, statistics.kind, rank, world_size))
    return statistics


def merge_shares(folder: Path, shares: int | None = None) -> Statistics | Factors:
    """Merge the shares of the stage `folder` is at: covariance sums into `covariance.safetensors` (returned), or
    corrected eigenvalues into the factors (saved and returned). `shares`: how many (default: as the files say)."""
    folder = Path(folder)
    covariance_file = folder / COVARIANCE_FILE
    stage = "lambda" if covariance_file.exists() else "covariance"
    parts = sorted((folder / "partial").glob(f"{stage}-*-of-{'*' if shares is None else f'{shares:05d}'}.safetensors"))
    if not parts:
        raise InputError(f"no {stage} statistics in {folder / 'partial'} to merge; fit the shares first")
    expected = int(parts[0].stem.split("-of-")[1])
    if len(parts) != expected:
        raise InputError(f"{len(parts)} of {expected} shares' {stage} statistics are done; fit the rest first")
    merged = merge(Statistics.load(part) for part in parts)
    if stage == "covariance":
        merged.save(covariance_file)
        return merged
    covariances = Statistics.load(covariance_file)
    factors = Factors.from_statistics(covariances, eigendecompose(covariances), merged)
    factors.save(folder)
    return factors


def fit_factors_stage(corpus: Corpus, model_path: Path, out: Path, args: FactorArguments,
                      device: DeviceArguments | None = None, shard: tuple[int, int] | None = None,
                      merge_only: bool = False, overwrite: bool = False) -> Statistics | Factors:
    """`curate fit-factors` in one process: the factors of the model at `model_path` on `corpus`, saved to `out`
    (resuming after saved covariance sums); or, with `shard=(K, N)`, share K's sums of the current stage; or,
    with `merge_only`, the shares merged. Returns the factors, or the share's or merged covariance sums."""
    out = Path(out)
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise InputError(f"--shard must be in 0..{shard[1] - 1}")
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    covariances = load_covariances(out, model, args, overwrite)
    if merge_only:
        return merge_shares(out)
    if shard is not None:
        share = corpus.read(bad_records_file(out, first_pass=covariances is None), *shard)
        return fit_share(model, tokenizer, share, out, args, *shard, overwrite=overwrite)
    if covariances is None:
        covariances = fit_covariances(model, tokenizer, corpus.read(bad_records_file(out)), args)
        covariances.save(out / COVARIANCE_FILE)
    bases = eigendecompose(covariances)
    lambdas = fit_lambdas(model, tokenizer, corpus.read(bad_records_file(out, first_pass=False)), bases, args)
    factors = Factors.from_statistics(covariances, bases, lambdas)
    factors.save(out)
    return factors


# ---------------------------------------------------------------------------------------------------------
# Scoring


def build_queries(model, tokenizer, probes_path: Path, factors_path: Path, args: ScoreArguments) -> Queries:
    """The preconditioned queries of the probes in `probes_path`, with the factors in `factors_path` if needed."""
    from attribution.probes import read_probes

    if not Path(probes_path).exists():
        raise InputError(f"no probes at {probes_path}; run `curate probes` or pass --probes FILE")
    # Baselines use the factors' layers when factors exist, so that every method scores the same parameters.
    use_factors = args.method == "ekfac" or (factors_fitted(factors_path) and args.modules is None)
    factors = Factors.load(factors_path) if use_factors else None
    return precondition_queries(model, tokenizer, read_probes(probes_path), factors, args)


def prepare_queries(model_path: Path, probes_path: Path, factors_path: Path, out: Path, args: ScoreArguments,
                    device: DeviceArguments | None = None, overwrite: bool = False) -> Queries:
    """Build the queries once and write them (and `probes.json`) into `out`, where every scoring task finds them."""
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    queries = build_queries(model, tokenizer, probes_path, factors_path, args)
    prepare_output(out, queries, overwrite)
    return queries


def score_stage(corpus: Corpus, model_path: Path, probes_path: Path, factors_path: Path, out: Path,
                args: ScoreArguments, device: DeviceArguments | None = None,
                documents_per_part: int = DOCUMENTS_PER_PART, overwrite: bool = False) -> dict:
    """`curate score` in one process: every document's influence on every probe, in parts of `documents_per_part`
    documents under `out`; parts from an earlier run are kept. Returns `score_corpus`'s summary, plus the
    number of `probes` and the `seconds` spent after loading the model."""
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    start = time.perf_counter()
    queries = build_queries(model, tokenizer, probes_path, factors_path, args)
    documents = corpus.read(Path(out) / BAD_RECORDS_FILE)
    summary = score_corpus(model, tokenizer, documents, queries, out, documents_per_part, overwrite)
    return {**summary, "probes": len(queries.probe_ids), "seconds": time.perf_counter() - start}
