"""The filter's settings: what it keeps and reweights (`FilterOptions`, `Bucket`) and where its datatrove tasks
run (`ExecutorArguments`). Nothing heavy is imported here, so the CLI builds its flags from them quickly."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from attribution.options import default_of, option
from curate.corpus.options import FORMATS
from curate.errors import InputError


@dataclass(frozen=True)
class Bucket:
    """Scores in [low, high) get `weight`; a bucket whose high is the largest of all also takes score == high."""

    low: float
    high: float
    weight: float

    @property
    def label(self) -> str:
        return f"{self.low:g}-{self.high:g}"


def parse_buckets(spec: str) -> list[Bucket]:
    """Parse "0.0:0.5=0.5,0.5:0.9=1,0.9:1.0=2" into buckets; ranges must not overlap."""
    buckets = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            bounds, weight = part.split("=")
            low, high = bounds.split(":")
            bucket = Bucket(float(low), float(high), float(weight))
        except ValueError as error:
            raise InputError(f"bad reweight bucket {part!r}: expected LOW:HIGH=WEIGHT, e.g. 0.9:1.0=2") from error
        if not bucket.low < bucket.high or bucket.weight < 0 or not math.isfinite(bucket.weight):
            raise InputError(f"bad reweight bucket {part!r}: need LOW < HIGH and a finite WEIGHT >= 0")
        buckets.append(bucket)
    if not buckets:
        raise InputError(f"no reweight buckets in {spec!r}")
    buckets.sort(key=lambda b: b.low)
    for before, after in itertools.pairwise(buckets):
        if after.low < before.high:
            raise InputError(f"reweight buckets {before.label} and {after.label} overlap")
    return buckets


EXECUTORS = ("local", "slurm", "ray")
EXECUTOR_ONLY = {  # ExecutorArguments fields read by some executors only
    **dict.fromkeys(("partition", "time", "job_name", "venv_path", "sbatch_args", "wait", "poll_seconds"), ("slurm",)),
    **dict.fromkeys(("cpus_per_task", "mem_per_cpu_gb"), ("slurm", "ray")),
    "ray_address": ("ray",),
}


@dataclass
class FilterOptions:
    """What the filter does; the executor settings (how many tasks run where) are passed to `run_filter`."""

    corpus: Path
    out: Path
    classifier: Path | None = None  # None: no model, heuristics only
    threshold: float | None = option(None, "keep documents with procedural_score >= THRESHOLD")
    keep_fraction: float | None = option(None, "keep this share of documents, the threshold set on a sample")
    calibration_size: int = option(2000, "documents scored to set the keep-fraction threshold")
    reweight: list[Bucket] | None = None
    heuristics: bool = option(False, "also annotate the heuristic detector values")
    heuristic_minimums: dict[str, float] = field(default_factory=dict)  # keep if any detector reaches its minimum
    seed: int = option(0, "seed for the calibration sample and reweighting")
    fmt: str = option("jsonl", "output shard format", choices=FORMATS, flag="--format")
    batch_size: int = option(256, "documents scored per classifier call")
    text_key: str = "text"
    id_key: str = "id"
    skip_bad_records: bool = False

    def __post_init__(self):
        from filters.heuristics import FEATURE_NAMES  # numpy: imported here, not for the CLI's flags

        self.corpus, self.out = Path(self.corpus), Path(self.out)
        self.classifier = Path(self.classifier) if self.classifier else None
        if self.threshold is not None and self.keep_fraction is not None:
            raise InputError("give --threshold or --keep-fraction, not both")
        if self.keep_fraction is not None and not 0 < self.keep_fraction <= 1:
            raise InputError(f"--keep-fraction must be in (0, 1], got {self.keep_fraction}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:  # a score is a probability
            raise InputError(f"--threshold must be in [0, 1], got {self.threshold}")
        if self.classifier is None and (self.threshold is not None or self.keep_fraction is not None or self.reweight):
            raise InputError("--threshold, --keep-fraction and --reweight need a classifier")
        if self.classifier is None and not (self.heuristics or self.heuristic_minimums):
            raise InputError("nothing to do: no classifier and no heuristics")
        if unknown := set(self.heuristic_minimums) - set(FEATURE_NAMES):
            raise InputError(f"unknown heuristic {sorted(unknown)}; choose from {list(FEATURE_NAMES)}")
        if self.classifier is not None and not self.classifier.exists():
            raise InputError(f"{self.classifier}: no classifier file (train one with `curate classifier train`)")
        for name, needs, given in (("calibration_size", "--keep-fraction", self.keep_fraction),
                                   ("batch_size", "a classifier", self.classifier)):
            if given is None and getattr(self, name) != default_of(FilterOptions, name):
                raise InputError(f"--{name.replace('_', '-')} does nothing without {needs}")
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"--out {self.out} is a file, not a folder; choose another --out")
        if self.out.resolve().is_relative_to(self.corpus.resolve()):
            raise InputError(f"--out {self.out} is inside the corpus {self.corpus}: a rerun would read its output as input")

    @property
    def kept_dir(self) -> Path:
        return self.out / "kept"

    @property
    def excluded_dir(self) -> Path:
        return self.out / "excluded"

    @property
    def logging_dir(self) -> Path:
        return self.out / "logs"

    def settings(self, tasks: int) -> dict:
        """Everything that changes which documents land where: the settings, the partitioning into tasks, and the
        inputs by content (corpus shards, classifier file); a resumed run must match it."""
        from curate.corpus.io import corpus_fingerprint

        # skipping bad records changes no completed task's output (such a task met none), so it may change on resume
        ignored = ("batch_size", "out", "skip_bad_records")
        settings = {key: value for key, value in asdict(self).items() if key not in ignored}
        settings["corpus"] = str(self.corpus.resolve())
        settings["classifier"] = str(self.classifier.resolve()) if self.classifier else None
        settings["reweight"] = [asdict(b) for b in self.reweight] if self.reweight else None
        settings["corpus_content"] = corpus_fingerprint(self.corpus)
        if self.classifier:
            settings["classifier_content"] = hashlib.sha256(self.classifier.read_bytes()).hexdigest()
        return json.loads(json.dumps(settings | {"tasks": tasks}, default=str))


@dataclass
class ExecutorArguments:
    """Where and how the filter's datatrove tasks run."""

    executor: str = option("local", "datatrove executor", choices=EXECUTORS)
    tasks: int = option(1, "datatrove tasks (shards of the input files)")
    workers: int = option(1, "tasks run at the same time (-1: all)")
    overwrite: bool = option(False, "delete a previous run in OUT and start over (default: resume it)")
    partition: str | None = option(None, "slurm: partition")
    time: str | None = option(None, "slurm: time limit per task, e.g. 04:00:00")
    cpus_per_task: int = option(1, "slurm / ray: CPUs per task")
    mem_per_cpu_gb: float = option(2, "slurm / ray: memory per CPU (GB)")
    job_name: str = option("curate_filter", "slurm: job name")
    venv_path: str | None = option(None, "slurm: activate script sourced by each job (None: this venv's)")
    sbatch_args: dict[str, str] = field(default_factory=dict)  # slurm: extra #SBATCH directives
    wait: bool = option(True, "slurm: wait for the jobs and write the summary (--no-wait: return after submitting)")
    poll_seconds: float = option(60, "slurm: how often to check for completion")
    ray_address: str | None = option(None, "ray: cluster address (None: start a local Ray instance)")

    def __post_init__(self) -> None:
        # another executor's option would be silently ignored: refuse it
        for name, executors in EXECUTOR_ONLY.items():
            if self.executor not in executors and getattr(self, name) != default_of(ExecutorArguments, name):
                flag = {"sbatch_args": "--sbatch-arg", "wait": "--no-wait"}.get(name, "--" + name.replace("_", "-"))
                raise InputError(f"{flag} applies to --executor {' or '.join(executors)}, not {self.executor}")

    def executor_options(self) -> dict:
        """The executor's own constructor arguments (beyond pipeline, tasks, workers and logging dir)."""
        if self.executor == "slurm":
            sbatch_args = dict(self.sbatch_args)
            return {
                "partition": self.partition,
                "time": self.time,
                "cpus_per_task": self.cpus_per_task,
                "mem_per_cpu_gb": math.ceil(self.mem_per_cpu_gb),  # sbatch takes whole gigabytes here
                "job_name": self.job_name,
                "venv_path": self.venv_path or str(Path(sys.prefix) / "bin" / "activate"),
                # datatrove writes its own --qos line after the extra directives, so pass the user's through it
                "qos": sbatch_args.pop("qos", "normal"),
                "sbatch_args": sbatch_args,
            }
        if self.executor == "ray":
            return {"cpus_per_task": self.cpus_per_task, "mem_per_cpu_gb": self.mem_per_cpu_gb}
        return {}
