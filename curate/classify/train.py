"""From a scores directory and its corpus to a trained classifier, with optional recall rounds, and evaluated.

Recall rounds (embedding backend), after DeepSeekMath's iterative recall: embed the unlabelled documents,
find each positive's nearest neighbours with faiss, and add those the current classifier also scores above
`min_probability` as positives; retrain, and repeat.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from attribution.options import default_of
from attribution.scores import load_per_nat_scores
from curate.classify.arguments import ClassifierArguments, LabelArguments, RecallArguments
from curate.classify.labels import label_from_scores, label_probe_ids
from curate.classify.model import ProceduralClassifier
from curate.classify.report import evaluate, plot_pr_curves
from curate.corpus.io import BAD_RECORDS_FILE, BadRecords, read_documents
from curate.corpus.split import is_heldout
from curate.errors import InputError
from curate.paths import CLASSIFIER_FILE, TRAINING_SET_FILE, RunDir
from curate.probes.sets import read_probes
from curate.tables import as_text


def recall_round(
    classifier: ProceduralClassifier, texts: list[str], labelled: pl.DataFrame, args: RecallArguments
) -> list[int]:
    """Indices (into `texts`) of unlabelled documents near a positive that the classifier also accepts."""
    import logging

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it says which instruction set it loaded, every run
    import faiss

    if classifier.backend != "embedding":
        raise InputError("recall rounds need the embedding backend (--backend embedding)")
    features, model = classifier.pipeline_[0], classifier.pipeline_[-1]
    embeddings = np.ascontiguousarray(features.transform(texts), dtype=np.float32)
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
    probabilities = model.predict_proba(embeddings[candidates])[:, 1]
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
        raise InputError(f"{len(missing)} scored documents are not in the corpus (e.g. {missing[0]!r})")
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


def source_folds(classifier: ProceduralClassifier, training_set: pl.DataFrame, documents: dict, truth_key: str,
                 source_key: str = "source") -> tuple[dict, pl.DataFrame]:
    """Leave one scored source out at a time: refit a clone of `classifier` on the training set less that source's
    documents, and score every scored document of the source (none of them trained on). Returns the metrics pooled
    over every source's documents and a table per source (documents, procedural share, kept share at 0.5). A
    random id split keeps each source on both sides; this measures what a new source meets."""
    from sklearn.base import clone

    source_of = {doc_id: str(d.metadata.get(source_key, "unknown")) for doc_id, d in documents.items()}
    training_ids = training_set["doc_id"].to_list()
    labels = training_set["label"].to_numpy()
    rows, probabilities, truth, sources = [], [], [], []
    for source in sorted(set(source_of.values())):
        keep = np.array([source_of.get(doc_id) != source for doc_id in training_ids])
        if len(set(labels[keep])) < 2:
            continue  # the source held every positive or every negative: nothing to refit on
        fold = clone(classifier).fit([documents[i].text for i, k in zip(training_ids, keep, strict=True) if k], labels[keep])
        ids = [doc_id for doc_id, name in source_of.items() if name == source]
        p = fold.procedural_probability([documents[i].text for i in ids])
        t = np.array([bool(documents[i].metadata[truth_key]) for i in ids])
        rows.append({"source": source, "documents": len(ids), "training_documents_left_out": int((~keep).sum()),
                     "procedural_share": float(t.mean()), "kept_share": float((p >= 0.5).mean())})
        probabilities.append(p)
        truth.append(t)
        sources += [source] * len(ids)
    if not rows:
        raise InputError("source folds need documents of at least two sources, each leaving both labels to train on")
    pooled = evaluate(np.concatenate(probabilities), np.concatenate(truth), sources)
    return pooled, pl.DataFrame(rows)


@dataclass
class ClassifierReport:
    out: Path
    heldout_documents: int
    files: dict[str, Path] = field(default_factory=dict)  # ranking -> its saved classifier
    provenance: dict[str, dict] = field(default_factory=dict)  # ranking -> its classifier's provenance_
    evaluation: dict[str, dict] = field(default_factory=dict)  # ranking -> held-out P/R/F1; {} without truth
    table: str = ""  # the evaluation as a text table, as in OUT/report.md
    source_folds: pl.DataFrame | None = None  # with `source_folds`: the EK-FAC classifier's per-source table
    bad_records: BadRecords | None = None  # malformed corpus records set aside (with skip_bad_records)


def check_arguments(args: ClassifierArguments, run_dir: RunDir) -> None:
    """Refuse settings the chosen backend would ignore, a missing embedding model and a bad probe file, before the
    corpus is read."""
    if args.backend == "embedding":
        ignored = [f"--{name.replace('_', '-')}" for name in ("word_ngrams", "char_ngrams")
                   if getattr(args, name) != default_of(ClassifierArguments, name)]
        model = Path(args.embedding_model or run_dir.model)
        if not (model / "config.json").is_file():
            raise InputError(f"{model}: no model for --backend embedding (a Hugging Face directory with config.json)")
    else:
        ignored = ["--embedding-model"] * bool(args.embedding_model) + ["--recall-rounds"] * bool(args.recall.rounds)
    if ignored:
        raise InputError(f"{' and '.join(ignored)}: not used with --backend {args.backend}")
    read_probes(args.probes or run_dir.probes)


def train_classifier(args: ClassifierArguments) -> ClassifierReport:
    """One classifier per ranking (the run's EK-FAC scores, then each of `args.compare`), each saved with its
    training set (OUT, or OUT/from_NAME); with ground truth in the corpus, each is evaluated on the held-out
    documents, none of which is ever trained on (OUT/report.json, report.md, pr_curve.png)."""
    run_dir = RunDir(args.run_dir)
    check_arguments(args, run_dir)
    rankings = {"ekfac": args.scores or run_dir.scores}
    for item in args.compare:
        name, _, path = item.partition("=")
        if not path:
            raise InputError(f"--compare takes NAME=SCORES_DIR, not {item!r}")
        rankings[name] = Path(path)

    report = ClassifierReport(args.out or run_dir.classifier, 0)
    # every run reads the whole corpus again, so its bad records replace the last run's
    report.bad_records = BadRecords(report.out / BAD_RECORDS_FILE, mode="w") if args.skip_bad_records else None
    corpus = read_documents(args.corpus or run_dir.corpus, args.text_key, args.id_key, report.bad_records)
    documents = {d.id: d for d in corpus}
    if report.bad_records is not None:
        report.bad_records.close()
    heldout = [doc_id for doc_id in documents if is_heldout(doc_id, args.heldout_fraction, args.seed)]
    heldout_set = set(heldout)
    training_texts = {i: d.text for i, d in documents.items() if i not in heldout_set}
    has_truth = all(args.truth_key in documents[i].metadata for i in heldout[:100]) and bool(heldout)
    report.heldout_documents = len(heldout)
    if args.source_folds and not has_truth:
        raise InputError(f"--source-folds needs the ground truth {args.truth_key!r} in the corpus")
    curves = {}
    for name, scores_dir in rankings.items():
        scores, meta = load_per_nat_scores(scores_dir)
        scores = scores.filter(~pl.col("doc_id").is_in(heldout))
        scored = [p["id"] for p in meta["probes"]]
        reasoning, factual = label_probe_ids(args.probes or run_dir.probes, scored, args.labels.sets,
                                           args.labels.against_sets)
        classifier = ProceduralClassifier(
            backend=args.backend,
            embedding_model=str(args.embedding_model or run_dir.model)
            if args.backend == "embedding"
            else None,
            word_ngrams=args.word_ngrams,
            char_ngrams=args.char_ngrams,
            seed=args.seed,
        )
        method = meta.get("arguments", {}).get("method", name)
        # seeded noise has no gradient norm to divide by, and dividing noise by one would change nothing
        labels = replace(args.labels, per_grad_norm=False) if method == "random" else args.labels
        classifier, training_set = train_from_scores(
            scores, training_texts, reasoning, factual, classifier, labels, args.recall
        )
        classifier.provenance_.update(
            run_dir=str(run_dir.root),
            scores=str(scores_dir),
            corpus=str(args.corpus or run_dir.corpus),
            probe_file=str(args.probes or run_dir.probes),
            ranking=name,
            method=method,
            reasoning_probes=reasoning,
            factual_probes=factual,
            labels=asdict(labels),
            recall_rounds=args.recall.rounds,
        )
        target = report.out if name == "ekfac" else report.out / f"from_{name}"
        report.files[name] = classifier.save(target / CLASSIFIER_FILE)
        report.provenance[name] = classifier.provenance_
        training_set.write_parquet(target / TRAINING_SET_FILE)
        if has_truth:
            probabilities = classifier.procedural_probability([documents[i].text for i in heldout])
            truth = np.array([bool(documents[i].metadata[args.truth_key]) for i in heldout])
            sources = [str(documents[i].metadata.get("source", "unknown")) for i in heldout]
            report.evaluation[name] = evaluate(probabilities, truth, sources)
            curves[name] = (probabilities, truth)
            if args.source_folds and name == "ekfac":
                pooled, report.source_folds = source_folds(classifier, training_set, documents, args.truth_key)
                report.evaluation["ekfac, source folds"] = pooled
                report.source_folds.write_csv(target / "source_folds.csv")

    if report.evaluation:
        (report.out / "report.json").write_text(json.dumps(report.evaluation, indent=1))
        plot_pr_curves(curves, report.out / "pr_curve.png")
        metrics = ("precision", "recall", "f1", "average_precision")
        rows = [{"ranking": n, **{k: r[k] for k in metrics}} for n, r in report.evaluation.items()]
        report.table = as_text(pl.DataFrame(rows))
        (report.out / "report.md").write_text(f"Held-out documents: {len(heldout)}\n\n{report.table}\n")
    return report
