"""How good a classifier is against ground truth it never trained on: P/R/F1, PR curve, sources."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, precision_recall_fscore_support

from curate.plots import new_figure, save_figure


def evaluate(
    probabilities: np.ndarray, truth: np.ndarray, sources: list[str], threshold: float = 0.5
) -> dict:
    """Precision, recall, F1 at `threshold`, average precision, and each source's share of predicted positives."""
    truth = np.asarray(truth).astype(int)
    predicted = (np.asarray(probabilities) >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", zero_division=0
    )
    positives = Counter(s for s, p in zip(sources, predicted, strict=True) if p)
    corpus = Counter(sources)
    n_positive = max(1, int(predicted.sum()))
    return {
        "documents": len(truth),
        "threshold": threshold,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "average_precision": float(average_precision_score(truth, probabilities))
        if truth.any()
        else float("nan"),
        "predicted_positive": int(predicted.sum()),
        "true_positive_share": float(truth.mean()),
        "source_share_of_predicted_positives": {s: positives[s] / n_positive for s in sorted(corpus)},
        "source_share_of_corpus": {s: corpus[s] / len(sources) for s in sorted(corpus)},
    }


def plot_pr_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """One precision-recall curve per named (probabilities, truth) pair."""
    fig, ax = new_figure(5.5, 4.5)
    for name, (probabilities, truth) in curves.items():
        precision, recall, _ = precision_recall_curve(truth, probabilities)
        ax.plot(recall, precision, label=f"{name} (AP {average_precision_score(truth, probabilities):.3f})")
    ax.set(
        xlabel="recall",
        ylabel="precision",
        title="Procedural classifier vs ground truth",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left")
    return save_figure(fig, path)
