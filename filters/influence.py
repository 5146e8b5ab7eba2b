"""Attribution as datatrove steps, so it shards like any other pipeline, on any executor (local, Slurm, Ray).

Scoring: each task scores the documents of its rank against queries prepared once, and writes
`part-{rank:05d}.parquet` whole; documents pass through unchanged, so the step can sit before others.

    prepare_queries(model, probes, factors, "scores/", ScoreArguments())
    pipeline = [JsonlReader("corpus/"), InfluenceScorer("model/", "scores/")]
    LocalPipelineExecutor(pipeline, tasks=8, workers=2, logging_dir="scores/logs").run()

Fitting: each task sums the statistics of its rank's documents (`FactorStatistics`, a terminal step); the
sums are merged between the covariance stage and the corrected-eigenvalue stage (`run_fitting_pipeline`).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import torch
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from attribution.ekfac.data import Skipped
from attribution.ekfac.factors import (
    FactorArguments,
    Factors,
    Statistics,
    eigendecompose,
    fit_covariances,
    fit_lambdas,
    merge,
)
from attribution.ekfac.precondition import Queries, ScoreArguments
from attribution.ekfac.scoring import (
    DocumentScores,
    Scorer,
    part_path,
    prepare_output,
    score_documents,
    write_part,
)
from curate.errors import UserFacingError


class InfluenceScorer(PipelineStep):
    """Scores the documents of this rank against the queries in `output_folder`; one part file per rank."""

    name = "🎯 influence scores"
    type = "📊 - STATS"

    def __init__(self, model_path: str | Path, output_folder: str | Path, chunk_size: int = 256,
                 threads: int | None = None, device: str = "cpu"):
        super().__init__()
        self.model_path, self.output_folder = Path(model_path), Path(output_folder)
        self.chunk_size, self.threads, self.device = chunk_size, threads, device

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from curate.commands.fit_factors import load_model

        path = part_path(self.output_folder, rank)
        if path.exists():  # scored by an earlier run: pass the documents through untouched
            yield from data
            return
        queries_file = self.output_folder / "queries.safetensors"
        if not queries_file.exists():
            raise UserFacingError(f"no queries at {queries_file}; prepare them first (prepare_queries or curate score)")
        queries = Queries.load(queries_file)
        model, tokenizer = load_model(self.model_path, self.device, self.threads)
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
                 threads: int | None = None, device: str = "cpu"):
        super().__init__()
        self.model_path, self.factors_folder, self.args = Path(model_path), Path(factors_folder), args
        self.threads, self.device = threads, device

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from curate.commands.fit_factors import load_model

        model, tokenizer = load_model(self.model_path, self.device, self.threads)
        merged = self.factors_folder / "covariance.safetensors"
        args = replace(self.args, progress=False)
        if merged.exists():
            stage, bases = "lambda", eigendecompose(Statistics.load(merged))
            statistics = fit_lambdas(model, tokenizer, data, bases, args)
        else:
            stage, statistics = "covariance", fit_covariances(model, tokenizer, data, args)
        self.stat_update("documents", value=statistics.documents)
        self.stat_update("skipped", value=statistics.skipped.total)
        statistics.save(self.factors_folder / "partial" / f"{stage}-{rank:05d}-of-{world_size:05d}.safetensors")
        return
        yield  # a terminal step: a generator that passes nothing on


def run_fitting_pipeline(corpus: Path, factors_folder: Path, model_path: Path, args: FactorArguments, tasks: int,
                         workers: int = 1, text_key: str = "text", id_key: str = "id",
                         threads: int | None = None) -> Factors:
    """`curate fit-factors --tasks N`: covariances on N tasks, merge, corrected eigenvalues on N tasks, merge."""
    from datatrove.executor import LocalPipelineExecutor

    from curate.corpus.io import make_reader

    factors_folder = Path(factors_folder)
    merged = factors_folder / "covariance.safetensors"
    for stage in ("covariance", "lambda"):
        if stage == "covariance" and merged.exists():
            continue  # kept from an interrupted run
        pipeline = [make_reader(corpus, text_key, id_key, None),
                    FactorStatistics(model_path, factors_folder, args, threads=threads)]
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers,
                              logging_dir=str(factors_folder / "logs" / stage)).run()
        parts = sorted((factors_folder / "partial").glob(f"{stage}-*-of-{tasks:05d}.safetensors"))
        if len(parts) != tasks:
            raise UserFacingError(f"only {len(parts)} of {tasks} tasks wrote {stage} statistics; see {factors_folder}/logs")
        statistics = merge(Statistics.load(part) for part in parts)
        if stage == "covariance":
            statistics.save(merged)
    covariances = Statistics.load(merged)
    factors = Factors.from_statistics(covariances, eigendecompose(covariances), statistics)
    factors.save(factors_folder)
    return factors


def _concatenate(parts: list[DocumentScores], probe_ids: list[str]) -> DocumentScores:
    skipped = sum((p.skipped for p in parts), Skipped())
    if not parts:
        return DocumentScores([], torch.zeros(0), torch.zeros(0, len(probe_ids)), probe_ids, skipped)
    return DocumentScores([i for p in parts for i in p.doc_ids], torch.cat([p.grad_norms for p in parts]),
                          torch.cat([p.scores for p in parts]), probe_ids, skipped)


def prepare_queries(model_path: Path, probes_path: Path, factors_path: Path, output_folder: Path,
                    args: ScoreArguments, overwrite: bool = False, threads: int | None = None) -> Queries:
    """Build the queries once, before the tasks start, and write them where every task finds them."""
    from curate.commands.fit_factors import load_model
    from curate.commands.score import build_queries

    model, tokenizer = load_model(model_path, threads=threads)
    queries = build_queries(model, tokenizer, probes_path, factors_path, args)
    prepare_output(output_folder, queries, overwrite)
    return queries


def run_scoring_pipeline(corpus: Path, output_folder: Path, model_path: Path, probes_path: Path, factors_path: Path,
                         args: ScoreArguments, tasks: int, workers: int = 1, text_key: str = "text",
                         id_key: str = "id", overwrite: bool = False, threads: int | None = None) -> None:
    """`curate score --tasks N`: prepare the queries, then score the corpus with N local datatrove tasks."""
    from datatrove.executor import LocalPipelineExecutor

    from curate.corpus.io import make_reader

    output_folder = Path(output_folder)
    if overwrite and (output_folder / "logs").exists():
        shutil.rmtree(output_folder / "logs")  # datatrove would otherwise skip the tasks it saw complete
    prepare_queries(model_path, probes_path, factors_path, output_folder, args, overwrite, threads)
    pipeline = [make_reader(corpus, text_key, id_key, None),
                InfluenceScorer(model_path, output_folder, threads=threads)]
    LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=str(output_folder / "logs")).run()
