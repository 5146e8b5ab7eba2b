"""Classifiers against a corpus's evaluation-only labels (the real corpus's `procedural`, from each document's
source; the synthetic corpus's ground truth), on held-out documents never used for selection.

The documents evaluated are those `curate classifier train` holds out by id hash (`curate.corpus.split`, the
same fraction and seed), less any excluded ones (e.g. the scored sample the classifiers learned from), that
carry the label; or, with `sources`, every document of those whole sources: held-out sources, the honest
measure of transfer, since documents of a training source share its register. For each classifier: precision,
recall and F1 at the threshold and at a keep-fraction (the top share by score, thresholded as `curate filter
--keep-fraction` does), average precision, each source's share among the kept documents against its share of
the documents evaluated, and the share of each source's own documents kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.classify.arguments import EvaluationArguments
from curate.corpus.io import BadRecords, read_documents
from curate.corpus.options import source_names
from curate.corpus.split import is_heldout
from curate.errors import InputError


@dataclass
class EvaluationReport:
    out: Path
    documents: int  # held-out, labelled and not excluded: the documents every classifier is measured on
    excluded: int  # held-out documents left out because an excluded corpus or id list names them
    unlabelled: int  # held-out documents without the label field
    metrics: list[dict] = field(default_factory=list)  # one row of evaluation.csv per classifier
    table: str = ""  # the metrics as a markdown table, as in evaluation.md
    files: list[Path] = field(default_factory=list)


def keep_threshold(scores: np.ndarray, keep_fraction: float) -> float:
    """The score from which the top `keep_fraction` of `scores` is kept: the (1 - keep_fraction) quantile,
    "lower" interpolation (an actual score, so at least that share is kept, more only on ties)."""
    return float(np.quantile(scores, 1 - keep_fraction, method="lower"))


def excluded_ids(paths: list[Path], text_key: str, id_key: str) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        if path.suffix == ".txt":
            if not path.is_file():
                raise InputError(f"{path}: no such id list")
            ids.update(line.strip() for line in path.read_text().splitlines() if line.strip())
        else:
            ids.update(document.id for document in read_documents(path, text_key, id_key))
    return ids


def label_of(value, doc_id: str, key: str) -> bool:
    if isinstance(value, str):  # bool("false") is True: refuse rather than count it procedural
        raise InputError(f"document {doc_id!r}: label {key!r} is the string {value!r}, not true/false")
    return bool(value)


def score(classifier, texts: list[str], batch_size: int, name: str) -> tuple[np.ndarray, float]:
    """(P(procedural) per text, documents per second), with a progress bar."""
    from attribution.progress import progress_bar

    start, scores = time.perf_counter(), []
    with progress_bar(total=len(texts), desc=f"scoring with {name}", unit="doc", smoothing=0.1) as progress:
        for offset in range(0, len(texts), batch_size):
            scores.append(classifier.procedural_probability(texts[offset : offset + batch_size]))
            progress.update(len(scores[-1]))
    return np.concatenate(scores), len(texts) / max(time.perf_counter() - start, 1e-9)


def evaluate_classifiers(args: EvaluationArguments) -> EvaluationReport:
    """Score the held-out labelled documents with each classifier; write evaluation.csv, evaluation.md,
    sources.csv and pr_curves.png to `args.out`."""
    import polars as pl

    from curate.classify.model import load_classifier
    from curate.classify.report import evaluate, plot_pr_curves
    from curate.tables import as_text

    if args.out.exists() and not args.out.is_dir():  # found before scoring, not when the results are written
        raise InputError(f"--out {args.out} is a file, not a folder; choose another --out")
    named = args.named_classifiers()
    classifiers = {name: load_classifier(path) for name, path in named.items()}  # a bad file fails first
    excluded = excluded_ids(args.exclude, args.text_key, args.id_key)
    bad = BadRecords(args.out / "bad_records.jsonl") if args.skip_bad_records else None
    texts, labels, sources = [], [], []
    report = EvaluationReport(args.out, 0, 0, 0)
    wanted, unwanted = set(source_names(args.sources)), set(source_names(args.exclude_sources))
    for document in read_documents(args.corpus, args.text_key, args.id_key, bad):
        source = str(document.metadata.get("source", "unknown"))
        if source in unwanted or (source not in wanted if wanted else
                                  not is_heldout(document.id, args.heldout_fraction, args.seed)):
            continue
        if document.id in excluded:
            report.excluded += 1
        elif args.label_key not in document.metadata:
            report.unlabelled += 1
        else:
            texts.append(document.text)
            labels.append(label_of(document.metadata[args.label_key], document.id, args.label_key))
            sources.append(source)
    report.documents = len(texts)
    if not texts:
        raise InputError(
            f"{args.corpus}: no held-out documents with the label {args.label_key!r} to evaluate on "
            f"({report.excluded} excluded, {report.unlabelled} unlabelled)"
        )
    missing = sorted(wanted - set(sources))
    if missing:
        raise InputError(f"{args.corpus}: no labelled documents of source(s) {', '.join(missing)}")
    truth = np.array(labels)
    if truth.all() or not truth.any():  # precision, recall and average precision are undefined or trivial
        raise InputError(
            f"{args.corpus}: all {len(texts)} held-out documents evaluated have {args.label_key} = {bool(truth[0])}; "
            "precision, recall and average precision need both classes: evaluate on a corpus with procedural "
            "and other documents"
        )

    curves, source_rows = {}, []
    for name, classifier in classifiers.items():
        probabilities, speed = score(classifier, texts, args.batch_size, name)
        at_threshold = evaluate(probabilities, truth, sources, args.threshold)
        kept_from = keep_threshold(probabilities, args.keep_fraction)
        at_keep = evaluate(probabilities, truth, sources, kept_from)
        curves[name] = (probabilities, truth)
        report.metrics.append({
            "classifier": name,
            "documents": len(texts),
            "procedural_share": at_threshold["true_positive_share"],
            "threshold": args.threshold,
            "precision": at_threshold["precision"],
            "recall": at_threshold["recall"],
            "f1": at_threshold["f1"],
            "kept_share": at_threshold["predicted_positive"] / len(texts),
            "average_precision": at_threshold["average_precision"],
            "keep_fraction": args.keep_fraction,
            "keep_threshold": kept_from,
            "precision_at_keep": at_keep["precision"],
            "recall_at_keep": at_keep["recall"],
            "f1_at_keep": at_keep["f1"],
            "kept_share_at_keep": at_keep["predicted_positive"] / len(texts),
            "docs_per_second": speed,
            "path": named[name],
        })
        for source, share in at_threshold["source_share_of_corpus"].items():
            own = np.array([s == source for s in sources])
            source_rows.append({
                "classifier": name,
                "source": source,
                "documents": int(own.sum()),
                "procedural_share": float(truth[own].mean()),
                "corpus_share": share,
                "kept_share_at_threshold": at_threshold["source_share_of_predicted_positives"][source],
                "kept_share_at_keep": at_keep["source_share_of_predicted_positives"][source],
                "kept_of_source_at_threshold": float((probabilities[own] >= args.threshold).mean()),
                "kept_of_source_at_keep": float((probabilities[own] >= kept_from).mean()),
            })

    args.out.mkdir(parents=True, exist_ok=True)
    metrics, by_source = pl.DataFrame(report.metrics), pl.DataFrame(source_rows)
    metrics.write_csv(args.out / "evaluation.csv")
    by_source.write_csv(args.out / "sources.csv")
    plot_pr_curves(curves, args.out / "pr_curves.png")
    shown = ["classifier", "precision", "recall", "f1", "average_precision", "precision_at_keep",
             "recall_at_keep", "f1_at_keep", "kept_share", "docs_per_second"]
    report.table = as_text(metrics.select(shown))
    kept = by_source.pivot(on="classifier", index=["source", "corpus_share"],
                           values=["kept_share_at_threshold", "kept_share_at_keep"])
    kept.columns = [c.replace("kept_share_at_threshold_", "kept at threshold: ")
                    .replace("kept_share_at_keep_", "kept at keep-fraction: ") for c in kept.columns]
    own = by_source.pivot(on="classifier", index=["source", "documents", "procedural_share"],
                          values="kept_of_source_at_threshold")
    chosen = (f"every document of the sources {', '.join(sorted(wanted))}" if wanted else
              f"held out by id hash (fraction {args.heldout_fraction}, seed {args.seed}, as `curate classifier train`)")
    (args.out / "evaluation.md").write_text(
        f"# Classifiers against `{args.label_key}` on held-out documents of {args.corpus}\n\n"
        f"{report.documents} documents evaluated: {chosen}, labelled, and not excluded ({report.excluded} "
        f"excluded, {report.unlabelled} unlabelled). Labels are evaluation-only metadata, never used for selection; on "
        "real text they come from each document's source and are heuristic. Threshold "
        f"{args.threshold}; keep-fraction {args.keep_fraction} (top share by score).\n\n{report.table}\n\n"
        "## Sources among the kept documents, against their share of the documents evaluated\n\n"
        f"{as_text(kept)}\n\n## Share of each source's documents kept at the threshold\n\n{as_text(own)}\n"
    )
    report.files = [args.out / name for name in ("evaluation.csv", "evaluation.md", "sources.csv", "pr_curves.png")]
    return report
