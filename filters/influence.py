"""Attribution as datatrove steps, so it shards like any other pipeline, on any executor (local, Slurm, Ray).

Scoring: each task scores the documents of its rank against queries prepared once, and writes
`part-{rank:05d}.parquet` whole; documents pass through unchanged, so the step can sit before others.

    prepare_queries("model/", "probes.jsonl", "factors/", "scores/", ScoreArguments())
    pipeline = [JsonlReader("corpus/"), InfluenceScorer("model/", "scores/")]
    LocalPipelineExecutor(pipeline, tasks=8, workers=2, logging_dir="scores/logs").run()

Fitting: each task sums the statistics of its rank's documents (`FactorStatistics`, a terminal step); the
sums are merged between the covariance stage and the corrected-eigenvalue stage (`fit_factors_on_tasks`).
`curate fit-factors --tasks N` and `curate score --tasks N` run these through `fit_factors_on_tasks` and
`score_on_tasks`, on the executor that `ExecutorArguments` names.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import torch
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from attribution.ekfac.data import Skipped
from attribution.ekfac.factors import FactorArguments, Factors
from attribution.ekfac.precondition import Queries, ScoreArguments
from attribution.ekfac.scoring import (
    QUERIES_FILE,
    DocumentScores,
    Scorer,
    part_path,
    score_documents,
    write_part,
)
from attribution.ekfac.stages import (
    COVARIANCE_FILE,
    Corpus,
    DeviceArguments,
    bad_records_file,
    fit_share,
    merge_shares,
    prepare_queries,
)
from curate.errors import InputError
from filters.pipeline import ExecutorArguments, run_tasks


class InfluenceScorer(PipelineStep):
    """Scores the documents of this rank against the queries in `output_folder`; one part file per rank."""

    name = "🎯 influence scores"
    type = "📊 - STATS"

    def __init__(self, model_path: str | Path, output_folder: str | Path, chunk_size: int = 256,
                 device: DeviceArguments | None = None):
        super().__init__()
        # absolute, so that workers started elsewhere (Ray, Slurm) find the files
        self.model_path, self.output_folder = Path(model_path).absolute(), Path(output_folder).absolute()
        self.chunk_size, self.device = chunk_size, device or DeviceArguments()

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = part_path(self.output_folder, rank)
        if path.exists():  # scored by an earlier run: pass the documents through untouched
            yield from data
            return
        queries_file = self.output_folder / QUERIES_FILE
        if not queries_file.exists():
            raise InputError(f"no queries at {queries_file}; prepare them first (prepare_queries or curate score)")
        queries = Queries.load(queries_file)
        model, tokenizer = self.device.load(self.model_path, queries.args.max_length)
        queries.args.progress = False
        scorer = Scorer(model, queries) if queries.args.method != "random" else None
        parts, chunk, seen = [], [], 0

        def flush():
            with self.track_time(unit="batch"):
                result = score_documents(model, tokenizer, chunk, queries, start=seen, scorer=scorer)
            self.stat_update("scored", value=len(result.doc_ids))
            self.stat_update("skipped", value=result.skipped.total)
            parts.append(result)

        for document in data:
            chunk.append(document)
            if len(chunk) == self.chunk_size:
                flush()
                yield from chunk
                seen, chunk = seen + len(chunk), []
        if chunk:
            flush()
            yield from chunk
        write_part(_concatenate(parts, queries.probe_ids), path)


class FactorStatistics(PipelineStep):
    """Sums EK-FAC statistics over the documents of this rank into `factors/partial/`: covariances while the
    merged `covariance.safetensors` does not exist yet, corrected eigenvalues in its eigenbasis once it does."""

    name = "📐 EK-FAC statistics"
    type = "📊 - STATS"

    def __init__(self, model_path: str | Path, factors_folder: str | Path, args: FactorArguments,
                 device: DeviceArguments | None = None):
        super().__init__()
        self.model_path, self.factors_folder = Path(model_path).absolute(), Path(factors_folder).absolute()
        self.args, self.device = replace(args, progress=False), device or DeviceArguments()

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        model, tokenizer = self.device.load(self.model_path, self.args.max_length)
        statistics = fit_share(model, tokenizer, data, self.factors_folder, self.args, rank, world_size)
        self.stat_update("documents", value=statistics.documents)
        self.stat_update("skipped", value=statistics.skipped.total)
        return
        yield  # a terminal step: a generator that passes nothing on


def fit_factors_on_tasks(corpus: Corpus, model_path: Path, out: Path, args: FactorArguments,
                         execution: ExecutorArguments, device: DeviceArguments | None = None) -> Factors | None:
    """`curate fit-factors --tasks N`: covariances on N tasks, merge, corrected eigenvalues on N tasks, merge.
    Returns the factors, or None when Slurm jobs were submitted without waiting (rerun to go on)."""
    out = Path(out)
    if execution.overwrite:
        shutil.rmtree(out, ignore_errors=True)
    for stage in ("covariance", "lambda"):
        if stage == "covariance" and (out / COVARIANCE_FILE).exists():
            continue  # kept from an interrupted run
        reader = corpus.reader(bad_records_file(out, first_pass=stage == "covariance"))
        pipeline = [reader, FactorStatistics(model_path, out, args, device)]
        if not run_tasks(pipeline, out / "logs" / stage, execution):
            return None
        merged = merge_shares(out, shares=execution.tasks)
    return merged


def score_on_tasks(corpus: Corpus, model_path: Path, probes_path: Path, factors_path: Path, out: Path,
                   args: ScoreArguments, execution: ExecutorArguments, device: DeviceArguments | None = None) -> bool:
    """`curate score --tasks N`: prepare the queries, then score the corpus with N datatrove tasks, one part each.
    False when Slurm jobs were submitted without waiting."""
    out = Path(out)
    if execution.overwrite and (out / "logs").exists():
        shutil.rmtree(out / "logs")  # datatrove would otherwise skip the tasks it saw complete
    prepare_queries(model_path, probes_path, factors_path, out, args, device, execution.overwrite)
    pipeline = [corpus.reader(bad_records_file(out)), InfluenceScorer(model_path, out, device=device)]
    return run_tasks(pipeline, out / "logs", execution)


def _concatenate(parts: list[DocumentScores], probe_ids: list[str]) -> DocumentScores:
    skipped = sum((p.skipped for p in parts), Skipped())
    if not parts:
        return DocumentScores([], torch.zeros(0), torch.zeros(0, len(probe_ids)), probe_ids, skipped)
    return DocumentScores([i for p in parts for i in p.doc_ids], torch.cat([p.grad_norms for p in parts]),
                          torch.cat([p.scores for p in parts]), probe_ids, skipped)
