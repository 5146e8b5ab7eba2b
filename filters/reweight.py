"""`Reweighter`: upsample or downsample documents by the bucket their score falls in.

A document of weight w is emitted ⌊w⌋ times, plus once more with probability w − ⌊w⌋, so the expected number
of copies is exactly w. The first copy keeps the document's id; extra copies get `{id}#r{k}` (k = 1, 2, …)
and `repeat_of = id` in their metadata, so ids stay unique and copies can be traced (or skipped by
`curate mix`). A document drawn to zero copies is dropped, and goes to the exclusion writer with
`filter_reason = "reweighted_to_zero"`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from curate.classify import SCORE_KEY
from curate.errors import InputError
from filters.arguments import Bucket, parse_buckets  # noqa: F401 (parse_buckets re-exported)

DROP_REASON = "reweighted_to_zero"


class Reweighter(PipelineStep):
    """Emits each document ⌊w⌋ or ⌊w⌋ + 1 times (mean w), w from the bucket of `metadata[score_key]`.

    Documents whose score lies in no bucket keep weight 1 (counted as `unbucketed`). The random draws come
    from a generator seeded with (seed, rank): reproducible for a given task, independent across tasks.
    """

    name = "⚖️ Reweight"
    type = "🔢 - REWEIGHT"

    def __init__(
        self,
        buckets: list[Bucket],
        seed: int = 0,
        score_key: str = SCORE_KEY,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__()
        self.buckets = sorted(buckets, key=lambda b: b.low)
        self.seed = seed
        self.score_key = score_key
        self.exclusion_writer = exclusion_writer
        self._top = max(b.high for b in self.buckets)

    def bucket_of(self, score: float) -> Bucket | None:
        for bucket in self.buckets:
            if bucket.low <= score < bucket.high or (score == bucket.high == self._top):
                return bucket
        return None

    def copies(self, weight: float, rng: np.random.Generator) -> int:
        whole = math.floor(weight)
        return whole + int(rng.random() < weight - whole)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # one generator per task, seeded with the rank too: a shared seed would give every task the same draws
        rng = np.random.default_rng([self.seed, rank])
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for doc in data:
                self.stat_update("documents")
                if self.score_key not in doc.metadata:
                    raise InputError(
                        f"document {doc.id!r} has no {self.score_key!r}: reweighting needs the score step first"
                    )
                bucket = self.bucket_of(float(doc.metadata[self.score_key]))
                weight = bucket.weight if bucket else 1.0
                label = bucket.label if bucket else "unbucketed"
                n = self.copies(weight, rng)
                self.stat_update(f"bucket_{label}")
                self.stat_update(f"copies_{label}", value=n)
                self.stat_update("copies_per_document", value=n)
                if n == 0:
                    self.stat_update("dropped", f"dropped_{DROP_REASON}")
                    if writer:
                        doc.metadata["filter_reason"] = DROP_REASON
                        writer.write(doc, rank)
                    continue
                self.stat_update("kept")
                doc.metadata["weight"] = weight
                # build every copy before yielding any, so later steps that edit a copy cannot leak into the rest
                extra = [
                    replace(doc, id=f"{doc.id}#r{k}", metadata=doc.metadata | {"repeat_of": doc.id})
                    for k in range(1, n)
                ]
                for copy in [doc, *extra]:
                    self.stat_update("copies")
                    self.update_doc_stats(copy)
                    yield copy
