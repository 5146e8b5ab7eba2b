"""`TwoStageClassifier`: a fast classifier passes documents at a permissive threshold, an accurate one rescores
only those it passes.

A filter spends the accurate model's time only on the share of the corpus the first stage keeps. A document the
first stage drops scores 0, so any threshold above 0 drops it too, and the accurate model never sees it. It is a
`ProceduralClassifier` (saved, loaded and used by `filters.procedural.ProceduralScoreFilter` as any other).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from curate.classify.model import ProceduralClassifier, bounded
from curate.errors import InputError


def combine(first: np.ndarray, second_of_kept: np.ndarray, first_threshold: float) -> np.ndarray:
    """The two-stage score: the second stage's score where the first stage's is at least `first_threshold`
    (`second_of_kept` holds those, in order), else 0."""
    keep = first >= first_threshold
    if len(second_of_kept) != int(keep.sum()):
        raise InputError(f"{int(keep.sum())} documents pass the first stage, {len(second_of_kept)} second-stage scores")
    out = np.zeros(len(first), dtype=np.float64)
    out[keep] = second_of_kept
    return out


class TwoStageClassifier(ProceduralClassifier):
    """P(procedural) from `second` for documents `first` scores at least `first_threshold`, 0 for the rest.

    `fit` fits clones of both stages on all the training documents (the second stage learns from the same labels,
    not only from the documents the first would pass); `from_fitted` joins two fitted classifiers without
    refitting. Fitted state: `first_`, `second_`, `classes_`, `provenance_`."""

    backend = "two-stage"  # what `filters.procedural.check_classifier` reads; not a hyperparameter

    def __init__(self, first: ProceduralClassifier | None = None, second: ProceduralClassifier | None = None,
                 first_threshold: float = 0.2):
        self.first = first
        self.second = second
        self.first_threshold = first_threshold

    def __setstate__(self, state: dict) -> None:
        super(ProceduralClassifier, self).__setstate__(state)

    def _check(self) -> None:
        if self.first is None or self.second is None:
            raise InputError("a two-stage classifier needs a first and a second classifier")
        if not 0 <= self.first_threshold <= 1:
            raise InputError(f"first_threshold must be in [0, 1], got {self.first_threshold}")

    def fit(self, texts: list[str], labels, features=None) -> TwoStageClassifier:
        self._check()
        texts, labels = bounded(texts), np.asarray(labels)
        self.first_ = clone(self.first).fit(texts, labels)
        self.second_ = clone(self.second).fit(texts, labels)
        return self._joined()

    @classmethod
    def from_fitted(cls, first: ProceduralClassifier, second: ProceduralClassifier,
                    first_threshold: float = 0.2) -> TwoStageClassifier:
        """Two fitted classifiers (with the same labels) as the two stages, without refitting either."""
        check_is_fitted(first)
        check_is_fitted(second)
        joined = cls(first, second, first_threshold)
        joined._check()
        joined.first_, joined.second_ = first, second
        return joined._joined()

    def _joined(self) -> TwoStageClassifier:
        if list(self.first_.classes_) != list(self.second_.classes_):
            raise InputError(f"the stages learned different labels: {list(self.first_.classes_)} and "
                             f"{list(self.second_.classes_)}")
        self.classes_ = self.first_.classes_
        self.provenance_ = {"first": self.first_.provenance_, "second": self.second_.provenance_,
                            "first_threshold": self.first_threshold}
        return self

    def procedural_probability(self, texts: list[str]) -> np.ndarray:
        check_is_fitted(self, "first_")
        texts = bounded(texts)
        first = np.asarray(self.first_.procedural_probability(texts), dtype=np.float64)
        kept = np.flatnonzero(first >= self.first_threshold)
        second = self.second_.procedural_probability([texts[i] for i in kept]) if len(kept) else np.zeros(0)
        return combine(first, second, self.first_threshold)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        probability = self.procedural_probability(texts)
        return np.column_stack([1 - probability, probability])

    def probability_from_features(self, features):
        raise InputError("a two-stage classifier scores texts; its stages have different features")
