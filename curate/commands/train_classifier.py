"""`curate train-classifier`: learn "procedural" from an influence ranking, with no hand labels."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import polars as pl

from attribution.scores import load_per_nat_scores
from curate import __version__
from curate.classify.labels import AGGREGATIONS, LabelArguments
from curate.corpus.io import add_corpus_arguments, read_documents
from curate.corpus.split import is_heldout
from curate.errors import UserFacingError
from curate.paths import RunDir, add_run_dir_argument
from curate.tables import as_text

CLASSIFIER_FILE = "classifier.joblib"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-classifier", help="train the procedural classifier from influence scores"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--scores", type=Path, help="scores directory (default: RUN_DIR/scores)")
    parser.add_argument("--probes", type=Path, help="probe file (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--corpus", type=Path, help="the scored corpus (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/classifier)")
    add_corpus_arguments(parser)
    labels = parser.add_argument_group("labels from the ranking")
    labels.add_argument(
        "--top-k", type=float, default=LabelArguments.top_k, help="positives: count, or share if < 1"
    )
    labels.add_argument("--negatives-per-positive", type=float, default=LabelArguments.negatives_per_positive)
    labels.add_argument(
        "--bottom-share",
        type=float,
        default=LabelArguments.bottom_share,
        help="share of negatives from the bottom of the ranking (the rest from the middle)",
    )
    labels.add_argument("--aggregate", choices=AGGREGATIONS, default=LabelArguments.aggregate)
    labels.add_argument("--per-grad-norm", action="store_true", help="rank by score / document gradient norm")
    labels.add_argument(
        "--exclude-factual", action="store_true", help="drop positives also top-ranked for facts"
    )
    model = parser.add_argument_group("model")
    model.add_argument("--backend", choices=("hashed", "embedding"), default="hashed")
    model.add_argument("--word-ngrams", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"),
                       help="hashed word n-gram range (default: 1 2)")
    model.add_argument("--char-ngrams", type=int, nargs=2, default=None, metavar=("MIN", "MAX"),
                       help="also hash character n-grams in this range, e.g. 3 5 (slower; off by default)")
    model.add_argument(
        "--embedding-model", type=Path, help="local HF model for --backend embedding (default: RUN_DIR/model)"
    )
    model.add_argument(
        "--recall-rounds", type=int, default=0, help="faiss nearest-neighbour expansion rounds"
    )
    model.add_argument("--seed", type=int, default=0)
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="documents never used for training, on which every classifier is evaluated",
    )
    evaluation.add_argument(
        "--truth-key", default="procedural", help="ground-truth metadata field, if the corpus has one"
    )
    evaluation.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="NAME=SCORES",
        help="also train from other rankings, e.g. cosine=runs/x/scores_cosine random=...",
    )
    parser.set_defaults(func=run)


def probe_ids_by_kind(probes_path: Path, scored: list[str]) -> tuple[list[str], list[str]]:
    from attribution.probes import read_probes

    probes = [p for p in read_probes(probes_path) if p.id in set(scored)]
    reasoning = [p.id for p in probes if p.kind == "reasoning"]
    if not reasoning:
        raise UserFacingError(f"none of the scored probes is a reasoning probe ({probes_path})")
    return reasoning, [p.id for p in probes if p.kind == "factual"]


def run(args) -> None:
    from curate.classify.model import ProceduralClassifier
    from curate.classify.report import evaluate, plot_pr_curves
    from curate.classify.train import RecallArguments, train_from_scores

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.classifier
    rankings = {"ekfac": args.scores or run_dir.scores}
    for item in args.compare:
        name, _, path = item.partition("=")
        if not path:
            raise UserFacingError(f"--compare takes NAME=SCORES_DIR, not {item!r}")
        rankings[name] = Path(path)

    documents = {d.id: d for d in read_documents(args.corpus or run_dir.corpus, args.text_key, args.id_key)}
    heldout = [doc_id for doc_id in documents if is_heldout(doc_id, args.heldout_fraction, args.seed)]
    heldout_set = set(heldout)
    training_texts = {i: d.text for i, d in documents.items() if i not in heldout_set}
    has_truth = all(args.truth_key in documents[i].metadata for i in heldout[:100]) and bool(heldout)
    label_args = LabelArguments(
        top_k=args.top_k,
        negatives_per_positive=args.negatives_per_positive,
        bottom_share=args.bottom_share,
        aggregate=args.aggregate,
        per_grad_norm=args.per_grad_norm,
        exclude_factual=args.exclude_factual,
        seed=args.seed,
    )
    reports, curves = {}, {}
    for name, scores_dir in rankings.items():
        scores, meta = load_per_nat_scores(scores_dir)
        scores = scores.filter(~pl.col("doc_id").is_in(heldout))
        probe_columns = [p["id"] for p in meta["probes"]]
        reasoning, factual = probe_ids_by_kind(args.probes or run_dir.probes, probe_columns)
        classifier = ProceduralClassifier(
            backend=args.backend,
            embedding_model=str(args.embedding_model or run_dir.model)
            if args.backend == "embedding"
            else None,
            word_ngrams=tuple(args.word_ngrams),
            char_ngrams=tuple(args.char_ngrams) if args.char_ngrams else None,
            seed=args.seed,
        )
        classifier, training_set = train_from_scores(
            scores,
            training_texts,
            reasoning,
            factual,
            classifier,
            label_args,
            RecallArguments(args.recall_rounds),
        )
        classifier.provenance = {
            "run_dir": str(run_dir.root),
            "scores": str(scores_dir),
            "ranking": name,
            "method": meta.get("arguments", {}).get("method", name),
            "reasoning_probes": reasoning,
            "factual_probes": factual,
            "labels": asdict(label_args),
            "recall_rounds": args.recall_rounds,
            "backend": args.backend,
            "n_features": classifier.n_features,
            "word_ngrams": list(classifier.word_ngrams),
            "char_ngrams": list(classifier.char_ngrams) if classifier.char_ngrams else None,
            "C": classifier.C,
            "training_documents": training_set.height,
            "positives": int(training_set["label"].sum()),
            "toolkit_version": __version__,
        }
        target = out if name == "ekfac" else out / f"from_{name}"
        classifier.save(target / CLASSIFIER_FILE)
        training_set.write_parquet(target / "training_set.parquet")
        if has_truth:
            import numpy as np

            probabilities = classifier.predict_proba([documents[i].text for i in heldout])
            truth = np.array([bool(documents[i].metadata[args.truth_key]) for i in heldout])
            sources = [str(documents[i].metadata.get("source", "unknown")) for i in heldout]
            reports[name] = evaluate(probabilities, truth, sources)
            curves[name] = (probabilities, truth)
        print(
            f"{name}: trained on {training_set.height} documents ({int(training_set['label'].sum())} positives); "
            f"saved {target / CLASSIFIER_FILE}"
        )

    if not reports:
        print(f"no ground truth ({args.truth_key!r}) in the corpus metadata: evaluation skipped")
        return
    (out / "report.json").write_text(json.dumps(reports, indent=1))
    plot_pr_curves(curves, out / "pr_curve.png")
    rows = [
        {"ranking": n, **{k: r[k] for k in ("precision", "recall", "f1", "average_precision")}}
        for n, r in reports.items()
    ]
    table = pl.DataFrame(rows)
    text = as_text(table)
    (out / "report.md").write_text(f"Held-out documents: {len(heldout)}\n\n{text}\n")
    print(f"on {len(heldout)} held-out documents (ground truth {args.truth_key!r}, never used for training):")
    print(text)
    shares = reports["ekfac"]["source_share_of_predicted_positives"]
    print("sources among predicted positives: " + ", ".join(f"{s} {v:.0%}" for s, v in shares.items()))
    print(f"report, PR curve and classifier in {out}")
