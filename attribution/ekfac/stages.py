"""The influence stages on files, as `curate influence fit` and `curate influence score` run them in one process, and as
the datatrove steps of `filters.influence` run them on many tasks.

A factors folder holds, besides the factors (`factors.safetensors`, `factors.json`):
    covariance.safetensors                           the merged covariance sums; a killed run resumes after them
    partial/{stage}-{K:05d}-of-{N:05d}.safetensors   one share's sums, stage "covariance" or "lambda"
Sharded fitting is a two-step state machine over these files: `fit_share` sums the stage the folder is at
(covariances until `covariance.safetensors` exists, corrected eigenvalues in its eigenbasis after) over one
share of the corpus, and `merge_shares` merges the shares into `covariance.safetensors` or the factors.

Factors and scores folders carry a manifest of what made them (`manifest.start_output`), written before the
first result: a resume with another corpus, model, probes, factors, settings or partitioning is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.corpus import corpus_fingerprint, make_reader
from attribution.ekfac.arguments import DeviceArguments, ScoreRunArguments
from attribution.ekfac.factors import (
    FACTORS_FILE,
    FactorArguments,
    Factors,
    Statistics,
    eigendecompose,
    fit_covariances,
    fit_lambdas,
    load_header,
    merge,
    model_fingerprint,
)
from attribution.ekfac.manifest import file_digest, read_manifest, start_output
from attribution.ekfac.memory import default_budget, describe, plan_factors, plan_scoring
from attribution.ekfac.modules import DEFAULT_MODULES, find_modules
from attribution.ekfac.precondition import Queries, ScoreArguments, precondition_queries
from attribution.ekfac.scoring import (
    QUERIES_FILE,
    finish_scores,
    prepare_output,
    score_corpus,
)
from attribution.errors import InputError
from attribution.io import BAD_RECORDS_FILE, BadRecords
from attribution.probe import ProbeReader

if TYPE_CHECKING:
    from datatrove.data import Document
    from datatrove.pipeline.readers.base import BaseReader

COVARIANCE_FILE = "covariance.safetensors"


@dataclass
class Corpus:
    """A corpus on disk and how to read it (see `attribution.corpus`)."""

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

    def share(self, bad_records: Path | str, rank: int = 0, world_size: int = 1,
              first: int | None = None) -> Iterator[Document]:
        """Share `rank` of `world_size`: every world_size-th file; or, with `first`, every world_size-th of the
        corpus's first `first` documents, so that they are the same documents however many shares there are
        (share 0 records the bad records among them)."""
        if first is None:
            return self.read(bad_records, rank, world_size)
        return islice(self.read(bad_records if rank == 0 else os.devnull), rank, first, world_size)

    def refuse_inside(self, out: Path) -> None:
        """Refuse an output folder inside the corpus folder: its files would be read as shards by the next run
        on the corpus (a score part would even turn it into a parquet corpus), which changes its fingerprint."""
        corpus = Path(self.path).resolve()
        if corpus.is_dir() and Path(out).resolve().is_relative_to(corpus):
            raise InputError(f"--out {out} is inside the corpus {self.path}: its files would be read as documents; "
                             "choose an --out outside it")

    def made_from(self) -> dict:
        """What the corpus contributes to a manifest: its content and its fields. Skipping bad records or not
        changes no result, only whether a run stops at the first."""
        return {"corpus": corpus_fingerprint(Path(self.path).absolute()), "text_key": self.text_key, "id_key": self.id_key}


def bad_records_file(out: Path, first_pass: bool = True) -> Path | str:
    """Fitting reads the corpus twice and meets the same bad records again: count them in the first pass only."""
    return Path(out) / BAD_RECORDS_FILE if first_pass else os.devnull


# ---------------------------------------------------------------------------------------------------------
# Fitting factors


def factors_fitted(folder: Path) -> bool:
    return (Path(folder) / FACTORS_FILE).exists()


def share_file(folder: Path, stage: str, rank: int, world_size: int) -> Path:
    return Path(folder) / "partial" / f"{stage}-{rank:05d}-of-{world_size:05d}.safetensors"


def start_factors(corpus: Corpus, model, out: Path, args: FactorArguments, shares: int, overwrite: bool) -> None:
    """Record what the factors in `out` are made from, refusing to resume a fit made from anything else."""
    corpus.refuse_inside(out)
    settings = {key: value for key, value in asdict(args).items() if key not in ("batch_size", "progress")}
    made_from = {**corpus.made_from(), "model": model_fingerprint(model), **settings, "shares": shares}
    results = [out / name for name in (COVARIANCE_FILE, FACTORS_FILE, "factors.json", "partial", "logs", BAD_RECORDS_FILE)]
    start_output(out, "factors fit", made_from, results, overwrite)
    if not factors_fitted(out):
        memory, disk = plan_factors(model, find_modules(model, args.modules), args)
        print(f"factors plan: memory about {memory} per process; disk about {disk}")


def load_covariances(folder: Path, model, args: FactorArguments) -> Statistics | None:
    """Covariance sums from an earlier (interrupted or sharded) run, if they belong to this model and setting."""
    path = Path(folder) / COVARIANCE_FILE
    if not path.exists():
        return None
    statistics = Statistics.load(path)
    header = statistics.header
    if header["fingerprint"] != model_fingerprint(model):
        raise InputError(f"{path} was fitted on another model; pass --overwrite to start again")
    if (header["fisher"], header["module_pattern"]) != (args.fisher, args.modules):
        raise InputError(f"{path} was fitted with fisher={header['fisher']}, modules={header['module_pattern']}; "
                         "pass the same options or --overwrite")
    return statistics


def fit_share(model, tokenizer, corpus: Corpus, folder: Path, args: FactorArguments, rank: int = 0,
              world_size: int = 1) -> Statistics:
    """The sums of the stage `folder` is at over share `rank` of the corpus (`Corpus.share`), saved to
    `share_file` for `merge_shares`."""
    covariances = load_covariances(folder, model, args)
    documents = corpus.share(bad_records_file(folder, covariances is None), rank, world_size, args.max_documents)
    if args.max_documents is not None:  # this share's count: what its progress bar counts to
        args = replace(args, max_documents=len(range(rank, args.max_documents, world_size)))
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
    """`curate influence fit` in one process: the factors of the model at `model_path` on `corpus`, saved to `out`
    (resuming after saved covariance sums; returned as they are if already fitted from the same inputs); or,
    with `shard=(K, N)`, share K's sums of the current stage; or, with `merge_only`, the shares merged.
    Returns the factors, or the share's or merged covariance sums."""
    out = Path(out)
    if merge_only:
        return merge_shares(out)
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise InputError(f"--shard must be in 0..{shard[1] - 1}")
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    start_factors(corpus, model, out, args, 1 if shard is None else shard[1], overwrite)
    if factors_fitted(out):
        return Factors.load(out)
    if shard is not None:
        return fit_share(model, tokenizer, corpus, out, args, *shard)
    covariances = load_covariances(out, model, args)
    if covariances is None:
        (out / BAD_RECORDS_FILE).unlink(missing_ok=True)  # the first pass reads the corpus again: count them anew
        documents = corpus.share(bad_records_file(out), first=args.max_documents)
        covariances = fit_covariances(model, tokenizer, documents, args)
        covariances.save(out / COVARIANCE_FILE)
    bases = eigendecompose(covariances)
    documents = corpus.share(bad_records_file(out, first_pass=False), first=args.max_documents)
    factors = Factors.from_statistics(covariances, bases, fit_lambdas(model, tokenizer, documents, bases, args))
    factors.save(out)
    return factors


# ---------------------------------------------------------------------------------------------------------
# Scoring


def factors_identity(folder: Path) -> str:
    """A hash of the factors' header and of what made them (their manifest, where they have one)."""
    made = [load_header(Path(folder) / FACTORS_FILE), (read_manifest(folder) or {}).get("made_from")]
    return hashlib.sha256(json.dumps(made, sort_keys=True).encode()).hexdigest()


def _factors_header(args: ScoreArguments, factors_path: Path) -> dict | None:
    """The header of the factors the queries use, or None. Baselines use the factors' layers when factors exist,
    so that every method scores the same parameters."""
    if args.method != "ekfac" and (args.modules is not None or not factors_fitted(factors_path)):
        return None
    if not factors_fitted(factors_path):
        raise InputError(f"no factors at {Path(factors_path) / FACTORS_FILE}; run `curate influence fit` first")
    return load_header(Path(factors_path) / FACTORS_FILE)


def _hold_to_budget(model, probes: int, args: ScoreArguments, header: dict | None, build: bool, budget: float) -> int:
    """Refuse (ResourceError) a scoring run that cannot fit `budget` GB, print the estimate otherwise, and return
    the bytes left for full queries. The layers are those `precondition_queries` picks."""
    pattern = header["module_pattern"] if args.method == "ekfac" else args.modules or (header or {}).get("module_pattern")
    phases, room = plan_scoring(model, find_modules(model, pattern or DEFAULT_MODULES), probes, args,
                                header is not None, build, budget)
    print(f"memory estimate, within the budget of {budget:.1f} GB: "
          + "; ".join(f"{phase} {describe(parts)}" for phase, parts in phases.items()))
    return room


@dataclass
class StartedScores:
    """What `start_scores` prepared: the queries, the baselines scored in the same pass with their folders, and
    the bytes full queries may take (`scoring.materialised_layers`)."""

    queries: Queries
    baselines: list[tuple[Queries, Path]]
    room: int

    @property
    def folders(self) -> list[Path]:
        return [folder for _, folder in self.baselines]


def start_scores(model, tokenizer, corpus: Corpus, probes_path: Path, factors_path: Path, out: Path,
                 args: ScoreArguments, run: ScoreRunArguments, tasks: int = 0, workers: int = 1,
                 overwrite: bool = False, *, read_probes: ProbeReader) -> StartedScores:
    """Start or resume the scores in `out`, and those of `run.baselines` beside it (of one process, or of `tasks`
    datatrove tasks, `workers` at a time): check or record what each folder is made from (a baseline's record
    is the one its own `curate influence score --method` run would write), hold the memory they need to the budget, and
    build the queries, or load those an earlier run of the same manifest saved. `read_probes` reads and checks
    the probes file (the toolkit's `curate.probes.sets.read_probes`)."""
    out = Path(out)
    corpus.refuse_inside(out)
    if not Path(probes_path).exists():
        raise InputError(f"no probes at {probes_path}; run `curate probes make` or pass --probes FILE")
    if run.baselines and args.method not in ("ekfac", "dot", "cosine"):
        raise InputError("--baselines share the documents' gradients: score them with --method ekfac, dot or cosine")
    if args.method in run.baselines:
        raise InputError(f"--baselines {args.method} repeats --method {args.method}")
    outputs = [(args, out), *((replace(args, method=m), run.baseline_folder(out, m)) for m in run.baselines)]
    headers = [_factors_header(method_args, factors_path) for method_args, _ in outputs]
    if len({json.dumps((h or {}).get("module_pattern")) for h in headers}) > 1:
        raise InputError("--baselines must score the layers EK-FAC scores: drop --modules, or fit factors first")
    for (method_args, folder), header in zip(outputs, headers, strict=True):
        settings = {key: value for key, value in asdict(method_args).items() if key != "progress"}
        made_from = {**corpus.made_from(), "model": model_fingerprint(model), "probes": file_digest(probes_path),
                     "factors": factors_identity(factors_path) if header else None,
                     **settings, "tasks": tasks, "documents_per_part": run.documents_per_part}
        results = [*folder.glob("part-*.parquet"),
                   *(folder / name for name in (QUERIES_FILE, "probes.json", "logs", BAD_RECORDS_FILE))]
        start_output(folder, "scoring run", made_from, results, overwrite)

    probes = read_probes(probes_path)
    build = [not (folder / QUERIES_FILE).exists() for _, folder in outputs]
    budget = run.memory_budget or default_budget(next(model.parameters()).device.type, workers)
    room = _hold_to_budget(model, len(probes) * len(outputs), args, headers[0], any(build), budget)
    factors = Factors.load(factors_path) if any(b and h for b, h in zip(build, headers, strict=True)) else None
    prepared = []
    for (method_args, folder), header, missing in zip(outputs, headers, build, strict=True):
        if missing:
            queries = precondition_queries(model, tokenizer, probes, factors if header else None, method_args)
        else:
            queries = Queries.load(folder / QUERIES_FILE)
        prepare_output(folder, queries)
        prepared.append((queries, folder))
    return StartedScores(prepared[0][0], prepared[1:], room)


def score_stage(corpus: Corpus, model_path: Path, probes_path: Path, factors_path: Path, out: Path,
                args: ScoreArguments, device: DeviceArguments | None = None, run: ScoreRunArguments | None = None,
                overwrite: bool = False, *, read_probes: ProbeReader) -> dict:
    """`curate influence score` in one process: every document's influence on every probe, in parts of
    `run.documents_per_part` documents under `out` (and `run.baselines` beside it, in the same pass); parts
    from an earlier run of the same manifest are kept. Returns `score_corpus`'s summary, the `documents` and
    `parts` the whole scores hold, the number of `probes`, the `baselines`' folders and the `seconds` spent
    after loading the model."""
    run = run or ScoreRunArguments()
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    start = time.perf_counter()
    started = start_scores(model, tokenizer, corpus, probes_path, factors_path, out, args, run, overwrite=overwrite,
                           read_probes=read_probes)
    total = sum(1 for _ in corpus.read(os.devnull))
    for folder in [Path(out), *started.folders]:
        (folder / BAD_RECORDS_FILE).unlink(missing_ok=True)  # the corpus is read whole again: counted again
    summary = score_corpus(model, tokenizer, corpus.read(Path(out) / BAD_RECORDS_FILE), started.queries, out,
                           run.documents_per_part, materialise_limit=started.room, total=total,
                           baselines=started.baselines, release_queries=True)
    for folder in started.folders:
        finish_scores(folder)
    return {**summary, **finish_scores(out), "probes": len(started.queries.probe_ids), "baselines": started.folders,
            "seconds": time.perf_counter() - start}
