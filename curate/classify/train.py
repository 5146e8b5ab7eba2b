"""From a scores directory and its corpus to a trained classifier, with optional recall rounds.

Recall rounds (embedding backend), after DeepSeekMath's iterative recall: embed the unlabelled documents,
find each positive's nearest neighbours with faiss, and add those the current classifier also scores above
`min_probability` as positives; retrain, and repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.classify.labels import LabelArguments, label_from_scores
from curate.classify.model import ProceduralClassifier
from curate.errors import UserFacingError


@dataclass
class RecallArguments:
    rounds: int = 0
    neighbours: int = 10
    min_probability: float = 0.5


def recall_round(
    classifier: ProceduralClassifier, texts: list[str], labelled: pl.DataFrame, args: RecallArguments
) -> list[int]:
    """Indices (into `texts`) of unlabelled documents near a positive that the classifier also accepts."""
    import faiss

    if classifier.backend != "embedding":
        raise UserFacingError("recall rounds need the embedding backend (--backend embedding)")
    embeddings = np.ascontiguousarray(classifier.transform(texts), dtype=np.float32)
    faiss.normalize_L2(embeddings)
    labelled_index = set(labelled["index"].to_list())
    pool = np.array([i for i in range(len(texts)) if i not in labelled_index], dtype=np.int64)
    if not len(pool):
        return []
    index = faiss.IndexFlatIP(embeddings.shape[1])
    index.add(embeddings[pool])
    seeds = labelled.filter(pl.col("label") == 1)["index"].to_numpy()
    _, neighbours = index.search(embeddings[seeds], min(args.neighbours, len(pool)))
    candidates = np.unique(pool[neighbours[neighbours >= 0]])
    probabilities = classifier.model_.predict_proba(embeddings[candidates])[:, 1]
    return candidates[probabilities >= args.min_probability].tolist()


def train_from_scores(
    scores: pl.DataFrame,
    texts_by_id: dict[str, str],
    reasoning_probes: list[str],
    factual_probes: list[str],
    classifier: ProceduralClassifier,
    label_args: LabelArguments,
    recall: RecallArguments | None = None,
) -> tuple[ProceduralClassifier, pl.DataFrame]:
    """Fit `classifier` on labels derived from `scores`; returns it and the final training set."""
    missing = [doc_id for doc_id in scores["doc_id"].head(1000).to_list() if doc_id not in texts_by_id]
    if missing:
        raise UserFacingError(f"{len(missing)} scored documents are not in the corpus (e.g. {missing[0]!r})")
    labelled = label_from_scores(scores, reasoning_probes, factual_probes, label_args)
    ids = list(texts_by_id)
    position = {doc_id: i for i, doc_id in enumerate(ids)}
    texts = [texts_by_id[i] for i in ids]
    labelled = labelled.with_columns(index=pl.col("doc_id").replace_strict(position, return_dtype=pl.Int64))
    labelled = labelled.with_columns(round=pl.lit(0))
    classifier.fit([texts[i] for i in labelled["index"]], labelled["label"].to_numpy())
    for round_number in range(1, (recall.rounds if recall else 0) + 1):
        added = recall_round(classifier, texts, labelled, recall)
        if not added:
            break
        extra = pl.DataFrame(
            {
                "doc_id": [ids[i] for i in added],
                "aggregate": [float("nan")] * len(added),
                "label": [1] * len(added),
                "index": added,
                "round": [round_number] * len(added),
            },
            schema=labelled.schema,
        )
        labelled = pl.concat([labelled, extra])
        classifier.fit([texts[i] for i in labelled["index"]], labelled["label"].to_numpy())
    return classifier, labelled.drop("index")
