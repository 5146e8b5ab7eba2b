"""Attribution as datatrove steps, so it shards like any other pipeline, on any executor (local, Slurm, Ray).

Scoring: each task scores the documents of its rank against queries prepared once, and writes them in parts
`part-{rank:05d}-{index:05d}.parquet` of `documents_per_part` documents, each whole; a killed task resumes
after its last part. Documents pass through unchanged, so the step can sit before others.

    start_scores(model, tokenizer, Corpus("corpus/"), "probes.jsonl", "factors/", "scores/", ScoreArguments(),
                 ScoreRunArguments(baselines=["cosine"]), tasks=8, read_probes=read_probes)
    pipeline = [JsonlReader("corpus/"), InfluenceScorer("model/", "scores/", baseline_folders=["scores-cosine/"])]
    LocalPipelineExecutor(pipeline, tasks=8, workers=2, logging_dir="scores/logs").run()

Fitting: each task sums the statistics of its share of the corpus (`FactorStatistics`, a terminal step that
reads its share itself, so that `--documents` means the first N documents of the corpus on any number of
tasks); the sums are merged between the covariance stage and the corrected-eigenvalue stage.
`curate influence fit --tasks N` and `curate influence score --tasks N` run these through `fit_factors_on_tasks` and
`score_on_tasks`, on the executor that `ExecutorArguments` names, with the same manifests as one process.
"""

from __future__ import annotations

import os
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from attribution.ekfac.factors import FactorArguments, Factors
from attribution.ekfac.precondition import Queries, ScoreArguments
from attribution.ekfac.scoring import (
    DOCUMENTS_PER_PART,
    QUERIES_FILE,
    finish_scores,
    new_summary,
    score_parts,
)
from attribution.ekfac.stages import (
    COVARIANCE_FILE,
    Corpus,
    DeviceArguments,
    ScoreRunArguments,
    bad_records_file,
    factors_fitted,
    fit_share,
    merge_shares,
    start_factors,
    start_scores,
)
from attribution.probe import ProbeReader
from curate.errors import InputError
from filters.pipeline import ExecutorArguments, run_tasks

# Seconds between redraws of a task's progress bar: tasks share a terminal (and a log file, where every redraw stays).
TASK_PROGRESS_EVERY = 30.0


class InfluenceScorer(PipelineStep):
    """Scores the documents of this rank against the queries in `output_folder` (and those in `baseline_folders`,
    in the same pass), in parts of `documents_per_part` documents; full queries take at most `materialise_limit`
    bytes (see `scoring.materialised_layers`). `totals`: each rank's number of documents, for its progress bar's
    time left (without them the bar shows the count and rate)."""

    name = "🎯 influence scores"
    type = "📊 - STATS"

    def __init__(self, model_path: str | Path, output_folder: str | Path, documents_per_part: int = DOCUMENTS_PER_PART,
                 device: DeviceArguments | None = None, materialise_limit: int | None = None,
                 baseline_folders: list[str | Path] = (), totals: list[int] | None = None):
        super().__init__()
        # absolute, so that workers started elsewhere (Ray, Slurm) find the files
        self.model_path, self.output_folder = Path(model_path).absolute(), Path(output_folder).absolute()
        self.baseline_folders = [Path(folder).absolute() for folder in baseline_folders]
        self.documents_per_part, self.device = documents_per_part, device or DeviceArguments()
        self.materialise_limit, self.totals = materialise_limit, totals

    @staticmethod
    def _queries(folder: Path) -> Queries:
        queries_file = folder / QUERIES_FILE
        if not queries_file.exists():
            raise InputError(f"no queries at {queries_file}; prepare them first (start_scores or curate influence score)")
        return Queries.load(queries_file)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        queries = self._queries(self.output_folder)
        baselines = [(self._queries(folder), folder) for folder in self.baseline_folders]
        model, tokenizer = self.device.load(self.model_path, queries.args.max_length)
        summary = new_summary()
        total = self.totals[rank] if self.totals and rank < len(self.totals) else None
        for chunk in score_parts(model, tokenizer, data, queries, self.output_folder, self.documents_per_part,
                                 summary, rank, self.materialise_limit, total, baselines, release_queries=True,
                                 every=TASK_PROGRESS_EVERY):
            yield from chunk
        self.stat_update("scored", value=summary["documents_scored"])
        self.stat_update("skipped", value=summary["skipped"].total)


class FactorStatistics(PipelineStep):
    """Sums EK-FAC statistics over this rank's share of `corpus` into `factors/partial/`: covariances while the
    merged `covariance.safetensors` does not exist yet, corrected eigenvalues in its eigenbasis once it does."""

    name = "📐 EK-FAC statistics"
    type = "📊 - STATS"

    def __init__(self, corpus: Corpus, model_path: str | Path, factors_folder: str | Path, args: FactorArguments,
                 device: DeviceArguments | None = None):
        super().__init__()
        self.corpus, self.model_path = corpus, Path(model_path).absolute()
        self.factors_folder = Path(factors_folder).absolute()
        self.args, self.device = args, device or DeviceArguments()

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        model, tokenizer = self.device.load(self.model_path, self.args.max_length)
        statistics = fit_share(model, tokenizer, self.corpus, self.factors_folder, self.args, rank, world_size)
        self.stat_update("documents", value=statistics.documents)
        self.stat_update("skipped", value=statistics.skipped.total)
        return
        yield  # a terminal step: a generator that passes nothing on


def local_workers(execution: ExecutorArguments) -> int:
    """How many tasks run at once on this machine: the local executor's workers, else 1 (Slurm and Ray tasks run
    elsewhere)."""
    if execution.executor != "local":
        return 1
    return execution.tasks if execution.workers == -1 else execution.workers


def fit_factors_on_tasks(corpus: Corpus, model_path: Path, out: Path, args: FactorArguments,
                         execution: ExecutorArguments, device: DeviceArguments | None = None) -> Factors | None:
    """`curate influence fit --tasks N`: covariances on N tasks, merge, corrected eigenvalues on N tasks, merge.
    Returns the factors (as they are if already fitted from the same inputs), or None when Slurm jobs were
    submitted without waiting (rerun to go on)."""
    out = Path(out)
    # the tasks' threads, not the coordinator's: the merge eigendecomposes the covariances again and checks that the
    # tasks' corrected eigenvalues came from the same eigenbasis, which LAPACK gives bitwise only at equal threads
    model, _ = (device or DeviceArguments()).load(model_path, args.max_length)
    start_factors(corpus, model, out, args, execution.tasks, execution.overwrite)
    del model  # each task loads its own
    if factors_fitted(out):
        return Factors.load(out)
    for stage in ("covariance", "lambda"):
        if stage == "covariance" and (out / COVARIANCE_FILE).exists():
            continue  # kept from an interrupted run
        if not run_tasks([FactorStatistics(corpus, model_path, out, args, device)], out / "logs" / stage, execution):
            return None
        merged = merge_shares(out, shares=execution.tasks)
    return merged


def score_on_tasks(corpus: Corpus, model_path: Path, probes_path: Path, factors_path: Path, out: Path,
                   args: ScoreArguments, execution: ExecutorArguments, device: DeviceArguments | None = None,
                   run: ScoreRunArguments | None = None, *, read_probes: ProbeReader) -> dict | None:
    """`curate influence score --tasks N`: prepare the queries (the probes read by `read_probes`), then score the corpus with
    N datatrove tasks. Returns the `documents` and `parts` the whole scores hold, or None when Slurm jobs were
    submitted without waiting."""
    out, run, device = Path(out), run or ScoreRunArguments(), device or DeviceArguments()
    workers = local_workers(execution)
    model, tokenizer = device.for_coordinator(workers).load(model_path, args.max_length)
    started = start_scores(model, tokenizer, corpus, probes_path, factors_path, out, args, run, execution.tasks,
                           workers, execution.overwrite, read_probes=read_probes)
    room, folders = started.room, started.folders
    del model, started  # each task loads its own model and queries: none stays in this process while they score
    # a local run counts each task's documents for its progress bar (one read of the corpus, as one process does)
    totals = [sum(1 for _ in corpus.read(os.devnull, rank, execution.tasks)) for rank in range(execution.tasks)] \
        if execution.executor == "local" else None
    scorer = InfluenceScorer(model_path, out, run.documents_per_part, device, room, folders, totals)
    if not run_tasks([corpus.reader(bad_records_file(out)), scorer], out / "logs", execution):
        return None
    for folder in folders:
        finish_scores(folder)
    return finish_scores(out)
