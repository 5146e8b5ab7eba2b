"""The corpus-scale filter as one datatrove pipeline, its executors, and the summary of a finished run.

    reader ─► [heuristics] ─► [procedural score: annotate / threshold / keep-fraction] ─► [reweight] ─► writer
                   │                        │                                              │
                   └──────── excluded/<reason>/part-<rank> (each drop with metadata filter_reason) ──┘

Layout of `out`: `kept/` (the documents that passed, with their annotations), `excluded/<reason>/`,
`logs/` (datatrove's logging dir: per-task stats, logs and completion markers, so a rerun skips finished tasks),
`filter_config.json` (what made the run: the settings, the tasks and the fingerprints of the corpus shards and
the classifier file; a resume must match it) and `summary.json`.

A failed task's traceback goes to its log (`logs/logs/task_NNNNN.log`), and the terminal gets one line naming
it. Local workers ignore Ctrl-C (the main process stops them) and die with the main process, even on `kill -9`.

Use it from Python without the CLI:

    from filters.pipeline import ExecutorArguments, FilterOptions, run_filter
    summary = run_filter(FilterOptions(corpus="crawl/", out="filtered/", classifier="clf.joblib",
                                       keep_fraction=0.2), ExecutorArguments(tasks=8, workers=2))
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import multiprocess
import numpy as np
from datatrove.executor import LocalPipelineExecutor, RayPipelineExecutor, SlurmPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.base import BaseDiskReader, BaseReader
from datatrove.utils.logging import logger
from datatrove.utils.stats import PipelineStats

from curate.classify import SCORE_KEY
from curate.corpus.io import (
    BAD_RECORDS_FILE,
    BadRecords,
    make_reader,
    make_writer,
    recorded,
    refuse_other_run,
    write_atomic,
)
from curate.errors import CurateError, InputError, require
from filters import heuristic_filter, procedural, reweight
from filters.arguments import EXECUTOR_ONLY, EXECUTORS, ExecutorArguments, FilterOptions  # noqa: F401
from filters.heuristic_filter import HeuristicFilter
from filters.procedural import ProceduralScoreFilter
from filters.reweight import Reweighter


def sample_texts(reader: BaseReader, size: int, seed: int) -> list[str]:
    """A seeded sample of `size` document texts, for calibrating the keep-fraction threshold.

    Files are visited in a seeded random order and the sample is drawn uniformly (reservoir sampling) from
    the first 4 × size documents met, so a corpus sorted by source does not bias the sample towards its
    first shards. Reads a copy of the reader, so the pipeline's reader stats stay untouched.
    """
    reader = copy.deepcopy(reader)
    if getattr(reader, "bad_records", None) is not None:
        reader.bad_records = BadRecords(os.devnull)  # the pipeline itself sets bad records aside, once
    rng = np.random.default_rng(seed)
    if isinstance(reader, BaseDiskReader):
        files = reader.data_folder.list_files(recursive=reader.recursive, glob_pattern=reader.glob_pattern)
        files = [files[i] for i in rng.permutation(len(files))]
        documents = (doc for path in files for doc in reader.read_file(path))
    else:
        documents = reader.run()
    sample: list[str] = []
    for seen, doc in enumerate(documents):
        if seen >= 4 * size:
            break
        if len(sample) < size:
            sample.append(doc.text)
        elif (slot := rng.integers(seen + 1)) < size:
            sample[slot] = doc.text
    return sample


def build_pipeline(options: FilterOptions) -> list[PipelineStep]:
    """The datatrove steps for `options`; calibrates the keep-fraction threshold here, once for all tasks."""
    bad = BadRecords(options.out / BAD_RECORDS_FILE) if options.skip_bad_records else None
    reader = make_reader(options.corpus, options.text_key, options.id_key, bad)

    def excluded(reason: str):
        return _writer(options.excluded_dir / reason, options)

    steps: list[PipelineStep] = [reader]
    if options.heuristics or options.heuristic_minimums:
        steps.append(HeuristicFilter(options.heuristic_minimums, exclusion_writer=excluded(heuristic_filter.DROP_REASON)))
    if options.classifier is not None:
        scorer = ProceduralScoreFilter(
            str(options.classifier),
            threshold=options.threshold,
            keep_fraction=options.keep_fraction,
            batch_size=options.batch_size,
            exclusion_writer=excluded(procedural.DROP_REASON),
        )
        if options.keep_fraction is not None:
            sample = sample_texts(reader, options.calibration_size, options.seed)
            if not sample:
                raise InputError(f"{options.corpus}: no documents to calibrate the keep-fraction on")
            scorer.calibrate(sample)
        steps.append(scorer)
    if options.reweight:
        steps.append(Reweighter(options.reweight, options.seed, exclusion_writer=excluded(reweight.DROP_REASON)))
    steps.append(_writer(options.kept_dir, options))
    return steps


def _writer(out_dir: Path, options: FilterOptions) -> PipelineStep:
    """A shard writer that gives each document's text and id back under the corpus's own field names: datatrove
    writes them as `text` and `id`, which would rename the user's fields, and overwrite (with the metadata's
    values) a record's own `text` or `id` fields when the text and id were read from others."""
    writer = make_writer(out_dir, options.fmt)
    if (options.text_key, options.id_key) != ("text", "id"):
        writer.adapter = functools.partial(_with_keys, options.text_key, options.id_key)
    return writer


def _with_keys(text_key: str, id_key: str, document) -> dict:
    """The record of `document`: its text and id under `text_key` and `id_key`, then its metadata as columns."""
    fields = {key: value for key, value in document.metadata.items() if key not in (text_key, id_key)}
    return {text_key: document.text, id_key: document.id, **fields}


def _task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    """datatrove's `add_task_logger`, but a task's traceback goes to its log file only: the main process then
    reports the failure in one line that names the file."""
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    line = ("{time:YYYY-MM-DD HH:mm:ss.SSS} | <level>{level: <8}</level> | {name}:{function}:{line} - "
            "<level>{message}</level>")
    logger.add(sys.stderr, level="INFO" if local_rank == 0 else "ERROR", format=line,
               filter=lambda record: record["exception"] is None)
    logger.add(logfile, level="DEBUG", format=line)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


class _TracebacksToLogs:
    """Executor mixin: each task logs with `_task_logger` instead of datatrove's own."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        module = sys.modules[super()._run_for_rank.__module__]  # where datatrove's method finds add_task_logger
        original, module.add_task_logger = module.add_task_logger, _task_logger
        try:
            return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            module.add_task_logger = original


class LocalExecutor(_TracebacksToLogs, LocalPipelineExecutor):
    """The local executor, with workers that leave Ctrl-C to the main process and die with it."""

    def _launch_run_for_rank(self, rank: int, ranks_q, completed=None, completed_lock=None) -> PipelineStats:
        if multiprocess.parent_process() is not None:
            _worker_leaves_with_main()
        return super()._launch_run_for_rank(rank, ranks_q, completed, completed_lock)


class RayExecutor(_TracebacksToLogs, RayPipelineExecutor):
    pass


@functools.cache  # once per process
def _worker_leaves_with_main() -> None:
    """In a pool worker: leave Ctrl-C to the main process (it stops the pool), and exit the moment the main process
    dies, even by `kill -9` (its end of the sentinel pipe closes), rather than finish a task no one waits for."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main = multiprocess.parent_process()
    threading.Thread(target=lambda: (main.join(), os._exit(1)), daemon=True).start()


_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None  # looked up before any fork
_forks = {"hooked": False, "active": False, "parent": 0}


def _forked() -> None:
    """In a child the main process forks while the local executor runs (datatrove's Manager, which serves until
    told to stop): have the kernel kill it when the main process dies (Linux: PR_SET_PDEATHSIG)."""
    if _forks["active"] and _prctl is not None:
        _prctl(1, signal.SIGKILL)
        if os.getppid() != _forks["parent"]:  # the parent died before the signal was set
            os._exit(1)


@contextlib.contextmanager
def _children_die_with_us():
    """Processes forked from this one meanwhile are killed when it dies, so a `kill -9` leaves none behind."""
    if not _forks["hooked"]:
        os.register_at_fork(before=lambda: _forks.update(parent=os.getpid()), after_in_child=_forked)
        _forks["hooked"] = True
    _forks["active"] = True
    try:
        yield
    finally:
        _forks["active"] = False


def make_executor(
    kind: str, pipeline: list[PipelineStep], logging_dir: Path, tasks: int, workers: int, **options
):
    """A datatrove executor of `kind` ("local", "slurm" or "ray"); `options` go to its constructor."""
    common = {"pipeline": pipeline, "tasks": tasks, "workers": workers, "logging_dir": str(logging_dir)}
    if kind == "local":
        return LocalExecutor(**common, **options)
    if kind == "slurm":
        missing = [name for name in ("partition", "time") if not options.get(name)]
        if missing:
            raise InputError(f"--executor slurm needs {', '.join('--' + m for m in missing)}")
        return SlurmPipelineExecutor(**common, **options)
    if kind == "ray":
        if importlib.util.find_spec("ray") is None:
            raise InputError("--executor ray needs ray: pip install ray")
        return RayExecutor(**common, **options)
    raise InputError(f"unknown executor {kind!r}; choose one of {EXECUTORS}")


def check_resumable(options: FilterOptions, tasks: int, overwrite: bool) -> None:
    """Refuse to mix outputs of different inputs or settings in one `out`; `overwrite` clears the old run instead."""
    config = options.out / "filter_config.json"
    if overwrite:
        for path in (options.kept_dir, options.excluded_dir, options.logging_dir):
            shutil.rmtree(path, ignore_errors=True)
        for path in (config, options.out / "summary.json", options.out / BAD_RECORDS_FILE):
            path.unlink(missing_ok=True)
    settings = options.settings(tasks)
    refuse_other_run(options.out, "filter run", recorded(config, "settings"), settings)
    write_atomic(config, json.dumps({"settings": settings}, indent=2))


def run_filter(options: FilterOptions, execution: ExecutorArguments | None = None) -> dict | None:
    """Run (or resume) the filter; returns the summary, or None when Slurm jobs were submitted without waiting.

    Tasks already completed in `options.out` (datatrove's completion markers) are skipped.
    """
    execution = execution or ExecutorArguments()
    tasks = execution.tasks
    if options.classifier is not None:
        procedural.check_classifier(str(options.classifier))
    check_resumable(options, tasks, execution.overwrite)
    pipeline = build_pipeline(options)
    config_path = options.out / "filter_config.json"
    config = json.loads(config_path.read_text())
    scorer = next((s for s in pipeline if isinstance(s, ProceduralScoreFilter)), None)
    config["calibration"] = scorer.calibration if scorer else None
    write_atomic(config_path, json.dumps(config, indent=2))

    if execution.executor == "local":
        # datatrove's local workers fork from a forkserver; importing scikit-learn and the classifier code
        # there once spares every worker (and every later run in this process) seconds of imports
        multiprocess.get_context("forkserver").set_forkserver_preload(["__main__", "curate.classify", "filters.pipeline"])
    if not run_tasks(pipeline, options.logging_dir, execution):
        return None
    summary = summarize(options.logging_dir, tasks)
    summary["calibration"] = config["calibration"]
    if options.skip_bad_records or (options.out / BAD_RECORDS_FILE).exists():
        summary["bad_records"] = _count_places(options.out / BAD_RECORDS_FILE)
    write_atomic(options.out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _count_places(bad_records: Path) -> int:
    """Distinct file:line places in a bad-records file: a rerun task appends its bad records again, and a killed
    one may leave its last record cut short."""
    places = set()
    for line in bad_records.open() if bad_records.exists() else []:
        with contextlib.suppress(json.JSONDecodeError):
            places.add(json.loads(line)["where"])
    return len(places)


def run_tasks(pipeline: list[PipelineStep], logging_dir: Path, execution: ExecutorArguments) -> bool:
    """Run `pipeline` as `execution.tasks` datatrove tasks on the executor it names, skipping tasks completed
    earlier; False when Slurm jobs were submitted without waiting. Any pipeline, not only the filter's.

    A failed task is reported in one line: its error and the log file that holds its traceback."""
    tasks = execution.tasks
    workers = tasks if execution.workers == -1 else execution.workers
    runner = make_executor(execution.executor, pipeline, logging_dir, tasks, workers, **execution.executor_options())
    started_ray = _ensure_ray(execution.ray_address, workers) if execution.executor == "ray" else False
    try:
        with _children_die_with_us() if execution.executor == "local" else contextlib.nullcontext():
            runner.run()
        if execution.executor == "slurm":
            if not execution.wait:
                return False
            _wait_for_slurm(runner, execution.poll_seconds)
    except Exception as error:
        raise _task_failure(Path(logging_dir), runner.get_incomplete_ranks(skip_completed=True), tasks, error) from None
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    incomplete = runner.get_incomplete_ranks(skip_completed=True)
    if incomplete:
        raise _task_failure(Path(logging_dir), incomplete, tasks, None)
    return True


def _task_failure(logging_dir: Path, incomplete: list[int], tasks: int, error: Exception | None) -> Exception:
    """The error to report for tasks that did not complete: the first failure and the log with its traceback,
    in one line. An error no task logged (e.g. a Slurm submission failing) is returned as it is."""
    logs = [logging_dir / "logs" / f"task_{rank:05d}.log" for rank in incomplete]
    failed = next(((log, cause) for log in logs if (cause := _last_error(log))), None)
    if error is not None and failed is None:
        return error
    log, cause = failed or (logs[0] if logs else logging_dir, "no error recorded")
    if error is not None:
        cause = str(error) if isinstance(error, CurateError) else f"{type(error).__name__}: {error}"
    kind = CurateError if error is not None and not isinstance(error, InputError) else InputError
    # a bad input fails the same way on every rerun: the user must fix it (or pass the flag it names) first
    bad_input = isinstance(error, InputError) or (error is None and re.match(r"^(curate\.errors\.)?InputError: ", cause))
    if bad_input:
        cause = re.sub(r"^(curate\.errors\.)?InputError: ", "", cause)
    then = ("fix that input (or pass the flag it names), then rerun the same command: completed tasks are skipped"
            if bad_input else "rerun the same command to resume, completed tasks are skipped")
    return kind(f"{len(incomplete)} of {tasks} tasks did not complete: {cause.splitlines()[0]} (its log: {log}); {then}")


def _last_error(log: Path) -> str | None:
    """The last exception line of a task's log (Ray reports task failures only there)."""
    if not log.exists():
        return None
    lines = [line for line in log.read_text(errors="replace").splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return lines[-1] if lines else None


def _ensure_ray(address: str | None, workers: int) -> bool:
    """Connect to the Ray cluster at `address`, or start a local one; True when this call started Ray."""
    ray = require("ray", "ray", "--executor ray")

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=max(workers, 1), include_dashboard=False)
    return True


def _wait_for_slurm(runner, poll_seconds: float) -> None:
    """Block until every task completed, or the Slurm job left the queue with tasks still incomplete."""
    while runner.get_incomplete_ranks(skip_completed=True):
        if runner.job_id in (None, -1):
            return
        queued = subprocess.run(["squeue", "-h", "-j", str(runner.job_id)], capture_output=True, text=True)
        if queued.returncode == 0 and not queued.stdout.strip():
            return  # the job ended; run_filter reports the incomplete tasks
        time.sleep(poll_seconds)


def _stat_total(value) -> float:
    return value.get("total", 0) if isinstance(value, dict) else value


def summarize(logging_dir: Path, tasks: int) -> dict:
    """Read / kept / excluded by reason / copies, summed over the per-task stats files of `logging_dir`.

    Reads `stats/<rank>.json` of every task rather than the executor's merged `stats.json`, which after a
    resumed run covers only the tasks run last.
    """
    total = PipelineStats()
    completed = 0
    for rank in range(tasks):
        path = Path(logging_dir) / "stats" / f"{rank:05d}.json"
        if path.exists():
            total += PipelineStats.from_json(json.loads(path.read_text()))
            completed += 1
    steps = [stat.to_dict() for stat in total.stats]
    read = kept = copies = 0
    excluded: dict[str, int] = {}
    scores = None
    threshold = None
    for step in steps:
        name, stats = step["name"], step["stats"]
        if "READER" in name:
            read += int(_stat_total(stats.get("documents", 0)))
        elif "WRITER" in name:
            copies += int(_stat_total(stats.get("total", 0)))
        for key, value in stats.items():
            if key.startswith("dropped_"):
                reason = key.removeprefix("dropped_")
                excluded[reason] = excluded.get(reason, 0) + int(_stat_total(value))
        if SCORE_KEY in stats and isinstance(stats[SCORE_KEY], dict):
            scores = {k: stats[SCORE_KEY].get(k) for k in ("mean", "std_dev", "min", "max")}
        if "threshold" in stats:
            value = stats["threshold"]
            # datatrove leaves a statistic's mean out of its dict when the mean is exactly 1
            threshold = value.get("mean", 1.0) if isinstance(value, dict) else value
        if "Reweight" in name:
            kept = int(_stat_total(stats.get("kept", 0)))
    reweighted = any("Reweight" in step["name"] for step in steps)
    if not reweighted:
        kept = copies
    excluded_total = sum(excluded.values())
    return {
        "tasks": tasks,
        "completed_tasks": completed,
        "read": read,
        "kept": kept,
        "excluded": excluded_total,
        "excluded_by_reason": excluded,
        "copies_written": copies,
        "accounted": read == kept + excluded_total,
        "threshold": threshold,
        SCORE_KEY: scores,
        "steps": steps,
    }
