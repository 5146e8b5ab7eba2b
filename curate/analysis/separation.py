"""Which probe sets' influence tells procedural documents from the rest, to choose the probes labels come from.

For each probe set, and for all the probes of each kind together ("all reasoning"...), every document's
aggregate influence magnitude over the group's probes: the mean |score / rms| of its per-nat scores, as the
classifier's training labels rank documents (`aggregate_scores`, "magnitude"). Then the ROC AUC and average
precision with which that aggregate ranks the documents whose evaluation-only truth (`procedural`) is true
above those where it is false; documents without the field are left out. The AUC is repeated with each source
left out in turn, because on real text one source (a maths set both procedural and influential, say) can
carry the whole separation. For reasoning groups, the same for Ruis et al.'s contrast (`against_factual`: rank by
the group's aggregate minus rank by the factual probes'), the label rule `--against-factual` trains on: on a real
model the magnitude mostly says how far a document moves the model at all, and the contrast cancels that. The truth only measures here; nothing is selected with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from curate.analysis.common import (
    KIND_COLOURS,
    UNKNOWN,
    against_factual,
    aggregate_scores,
    ordered_kinds,
    ordered_probes,
    with_documents,
)
from curate.probes.sets import Probe

AGGREGATE = "magnitude"  # the classifier's labelling aggregation, so the table says what its labels can learn


def probe_groups(probes: list[Probe]) -> list[tuple[str, str, list[str]]]:
    """(group, kind, probe ids): each set in the order given, then the probes of each kind that spans more than
    one set together ("all reasoning")."""
    sets = {p.set: p.kind for p in probes}
    groups = [(name, kind, [p.id for p in probes if p.set == name]) for name, kind in sets.items()]
    return groups + [(f"all {kind}", kind, [p.id for p in probes if p.kind == kind])
                     for kind in ordered_kinds(sets.values()) if list(sets.values()).count(kind) > 1]


def _separation(values: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score  # lazily: no other analysis needs it

    if truth.all() or not truth.any():  # one class: nothing to separate
        return {"roc_auc": float("nan"), "average_precision": float("nan")}
    return {"roc_auc": float(roc_auc_score(truth, values)),
            "average_precision": float(average_precision_score(truth, values))}


def separation(scores: pl.DataFrame, probes: list[Probe], documents: pl.DataFrame,
               truth_key: str = "procedural") -> pl.DataFrame:
    """Per probe group (`probe_groups`) and source left out (`without`, null for none): the labelled documents,
    how many are `truth_key` (`positives`), and the `roc_auc` and `average_precision` of the group's aggregate
    influence magnitude against the truth (NaN where one class is left), and `roc_auc_against_factual` of the
    contrast for reasoning groups (NaN for other groups or without factual probes). A score that failed (NaN)
    counts as 0."""
    labelled = with_documents(scores, documents, [truth_key, "source"])
    known = labelled[truth_key].is_not_null().to_numpy()
    truth = labelled[truth_key].cast(pl.String).str.to_lowercase().is_in(["true", "1"]).fill_null(False)
    truth = truth.to_numpy()[known]
    sources = labelled["source"].fill_null(UNKNOWN).to_numpy().astype(str)[known]
    rows = []
    groups = probe_groups(ordered_probes(scores, probes))
    factual_ids = [p.id for p in ordered_probes(scores, probes) if p.kind == "factual"]
    factual = aggregate_scores(scores.select(factual_ids).fill_nan(0.0), factual_ids, AGGREGATE)[known] \
        if factual_ids else None
    for group, kind, ids in groups:
        aggregate = aggregate_scores(scores.select(ids).fill_nan(0.0), ids, AGGREGATE)[known]
        for without in [None, *sorted(set(sources))]:
            keep = sources != without
            contrast = float("nan")
            if kind == "reasoning" and factual is not None:
                contrast = _separation(against_factual(aggregate[keep], factual[keep]), truth[keep])["roc_auc"]
            rows.append({"group": group, "kind": kind, "probes": len(ids), "without": without,
                         "documents": int(keep.sum()), "positives": int(truth[keep].sum()),
                         **_separation(aggregate[keep], truth[keep]), "roc_auc_against_factual": contrast})
    return pl.DataFrame(rows, schema={"group": pl.String, "kind": pl.String, "probes": pl.Int64, "without": pl.String,
                                      "documents": pl.Int64, "positives": pl.Int64, "roc_auc": pl.Float64,
                                      "average_precision": pl.Float64, "roc_auc_against_factual": pl.Float64})


def summarise_separation(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per group: the whole corpus's numbers, then the ROC AUC without each source (`auc_without_S`)."""
    whole = rows.filter(pl.col("without").is_null()).drop("without")
    left_out = rows.filter(pl.col("without").is_not_null())
    if not left_out.height:
        return whole
    wide = left_out.pivot(on="without", index="group", values="roc_auc", sort_columns=False)
    wide = wide.rename({c: f"auc_without_{c}" for c in wide.columns if c != "group"})
    return whole.join(wide, on="group", how="left", maintain_order="left")


def plot_separation(rows: pl.DataFrame, path: str | Path) -> Path:
    """ROC AUC (solid) and average precision (hatched) per group; a black line spans the AUCs with one source
    left out, a diamond marks the AUC of the contrast with factual influence; dashed and dotted lines mark chance."""
    from curate.plots import plt, save_figure

    spread = rows.filter(pl.col("without").is_not_null()).group_by("group").agg(
        low=pl.col("roc_auc").fill_nan(None).min(), high=pl.col("roc_auc").fill_nan(None).max())
    whole = rows.filter(pl.col("without").is_null()).join(spread, on="group", how="left", maintain_order="left")
    x = np.arange(whole.height)
    colours = [KIND_COLOURS.get(kind, "tab:purple") for kind in whole["kind"]]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * whole.height + 2), 4.2))
    ax.bar(x - 0.2, whole["roc_auc"].fill_nan(0), 0.4, color=colours, label="ROC AUC")
    ax.bar(x + 0.2, whole["average_precision"].fill_nan(0), 0.4, color=colours, alpha=0.5, hatch="//",
           label="average precision")
    ax.vlines(x - 0.2, whole["low"].fill_null(np.nan), whole["high"].fill_null(np.nan), color="black",
              label="AUC, one source left out")
    contrast = whole["roc_auc_against_factual"].fill_nan(None)
    if contrast.is_not_null().any():
        ax.scatter(x - 0.2, contrast.fill_null(np.nan), marker="D", color="black", zorder=3,
                   label="ROC AUC, reasoning over factual")
    ax.axhline(0.5, color="black", linestyle="--", linewidth=0.7, label="chance AUC")
    if whole.height and whole["documents"][0]:
        ax.axhline(whole["positives"][0] / whole["documents"][0], color="black", linestyle=":", linewidth=0.7,
                   label="chance average precision")
    ax.set_xticks(x, whole["group"].to_list(), rotation=30, ha="right")
    ax.set(ylim=(0, 1.02), ylabel="ROC AUC / average precision")
    ax.legend(fontsize=8)
    ax.set_title("Procedural documents ranked by each group's aggregate influence")
    return save_figure(fig, path)
