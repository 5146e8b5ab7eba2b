"""`ProceduralScoreFilter`: annotate each document with P(procedural) from the classifier, then keep or drop.

The classifier file is loaded lazily, once per worker process, and never pickled with the step: executors
ship the step to workers by pickling it (multiprocess, Slurm's dill file, Ray's object store), and a model
inside would be copied once per task. Only the path travels: a file, or `builtin[:NAME]` for a shipped one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.classify import SCORE_KEY
from curate.classify.evaluate import keep_threshold
from curate.errors import InputError

DROP_REASON = "low_procedural_score"


@functools.lru_cache(maxsize=4)
def load_scorer(path: str):
    """The classifier at `path` (or `builtin[:NAME]`), loaded at most once per process (cached by path)."""
    from curate.classify import load_classifier

    return load_classifier(path)


def check_classifier(path: str) -> None:
    """Load the classifier at `path` in this, the main, process: a missing, corrupt, old or foreign file (or the
    missing model of an embedding classifier) is then one clear error before any worker starts."""
    from curate.classify import ProceduralClassifier

    classifier = load_scorer(path)
    if not isinstance(classifier, ProceduralClassifier):
        raise InputError(f"{path}: not a classifier file (it holds a {type(classifier).__name__})")
    if classifier.backend == "embedding" and not (Path(str(classifier.embedding_model)) / "config.json").is_file():
        raise InputError(f"{path}: its embedding model {classifier.embedding_model} is not a model directory")


class ProceduralScoreFilter(BaseFilter):
    """Writes `procedural_score` (P(procedural)) to each document's metadata, and keeps documents by score.

    Modes, exactly one of:
      - `threshold=t`: keep documents with score >= t;
      - `keep_fraction=f`: keep the top f of documents; the threshold is the (1 - f) quantile of the scores of
        a sample, set by `calibrate(texts)` before the pipeline runs, so every task uses the same threshold;
      - neither (`annotate_only`): keep every document, only annotate.
    Dropped documents go to `exclusion_writer` with `filter_reason = "low_procedural_score"`.
    """

    name = "🧮 Procedural score"

    def __init__(
        self,
        classifier_path: str,
        threshold: float | None = None,
        keep_fraction: float | None = None,
        batch_size: int = 256,
        exclusion_writer: DiskWriter | None = None,
        score_key: str = SCORE_KEY,
    ):
        super().__init__(exclusion_writer, batch_size=batch_size)
        if threshold is not None and keep_fraction is not None:
            raise ValueError("give a threshold or a keep_fraction, not both")
        if keep_fraction is not None and not 0 < keep_fraction <= 1:
            raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
        self.classifier_path = str(classifier_path)
        self.threshold = threshold
        self.keep_fraction = keep_fraction
        self.score_key = score_key
        self.calibration: dict | None = None

    @property
    def annotate_only(self) -> bool:
        return self.threshold is None and self.keep_fraction is None

    def score(self, texts: list[str]) -> np.ndarray:
        return np.asarray(load_scorer(self.classifier_path).procedural_probability(texts), dtype=np.float64)

    def calibrate(self, texts: Iterable[str]) -> float:
        """Set the threshold that keeps `keep_fraction` of the sample `texts` (`keep_threshold`); returns it."""
        if self.keep_fraction is None:
            raise ValueError("calibrate() needs keep_fraction")
        texts = list(texts)
        if not texts:
            raise ValueError("cannot calibrate the threshold on an empty sample")
        scores = self.score(texts)
        self.threshold = keep_threshold(scores, self.keep_fraction)
        self.calibration = {
            "keep_fraction": self.keep_fraction,
            "sample_size": len(texts),
            "threshold": self.threshold,
            "sample_kept_fraction": float(np.mean(scores >= self.threshold)),
        }
        return self.threshold

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if self.keep_fraction is not None and self.threshold is None:
            raise RuntimeError("keep_fraction set but the threshold was never calibrated: call calibrate(sample)")
        scores = self.score([doc.text for doc in batch])
        results = []
        for doc, score in zip(batch, scores, strict=True):
            doc.metadata[self.score_key] = float(score)
            self.stat_update(self.score_key, value=float(score))
            if self.threshold is None or score >= self.threshold:
                results.append(True)
            else:
                results.append((False, DROP_REASON))
        return results

    def run(self, data, rank: int = 0, world_size: int = 1):
        if self.threshold is not None:
            # recorded once per task, so the merged stats show the threshold every task used
            self.stat_update("threshold", value=self.threshold, unit="task")
        yield from super().run(data, rank, world_size)
