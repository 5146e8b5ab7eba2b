"""`HeuristicFilter`: annotate documents with the cheap detectors of `filters.heuristics`, optionally keep by them."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from filters.heuristics import FEATURE_NAMES, FEATURES

DROP_REASON = "no_procedural_heuristic"


class HeuristicFilter(BaseFilter):
    """Writes each detector's value to metadata as `heuristic_<name>`; keeps documents that pass any minimum.

    `minimums` maps detector names to minimum values; a document is kept when at least one detector reaches
    its minimum (code OR formulas OR step markers: any of them marks a procedural document). With no
    minimums every document is kept and only annotated.
    """

    name = "🔎 Procedural heuristics"

    def __init__(
        self,
        minimums: dict[str, float] | None = None,
        features: tuple[str, ...] = FEATURE_NAMES,
        exclusion_writer: DiskWriter | None = None,
        prefix: str = "heuristic_",
    ):
        super().__init__(exclusion_writer)
        self.minimums = dict(minimums or {})
        unknown = (set(self.minimums) | set(features)) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown heuristic features {sorted(unknown)}; known: {list(FEATURE_NAMES)}")
        # a detector used in a minimum is always computed, even if not listed among the annotated features
        self.features = tuple(dict.fromkeys([*features, *self.minimums]))
        self.prefix = prefix

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        values = {name: FEATURES[name](doc.text) for name in self.features}
        for name, value in values.items():
            doc.metadata[self.prefix + name] = value
        if not self.minimums:
            return True
        passed = [name for name, minimum in self.minimums.items() if values[name] >= minimum]
        for name in passed:
            self.stat_update(f"passed_{name}")
        return True if passed else (False, DROP_REASON)
