"""How far could any labels go on the held-out sources? (`curate study ceiling`)

A classifier learned from influence labels is judged on whole sources it never saw. Its shortfall there has two
parts: the labels (influence ranks some technical text as procedural), and the training sources themselves (a
register that no training source shows cannot be learned from any labels). This study measures the second part:
classifiers trained on the corpus's evaluation-only labels, the best labels there are, in two settings:

- "sample": trained on every labelled document of the training sample (by default the scored sample, the
  documents influence labels come from), the same classifier for every held-out source;
- "leave-one-source-out": the same documents plus a seeded draw of up to N documents of each other held-out
  source, evaluated on the one left out: what more diverse training sources would buy.

Each held-out source's kept share at threshold 0.5, and precision, recall, F1 and average precision pooled over the
held-out sources. Labels only measure here; nothing is selected with them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.paths import RunDir
from curate.validate.arguments import CeilingArguments

SETTINGS = ("sample", "leave-one-source-out")


@dataclass
class Labelled:
    texts: list[str]
    labels: np.ndarray  # 1 procedural, 0 not
    sources: np.ndarray
    categories: np.ndarray
    in_sample: np.ndarray  # bool: a training-sample document (else a held-out source's)


@dataclass
class CeilingReport:
    sources: pl.DataFrame  # setting, source, category, documents, procedural_share, kept_share, training_documents
    pooled: pl.DataFrame  # setting, precision, recall, f1, average_precision, documents
    files: list[Path]


def with_run_defaults(args: CeilingArguments, run_dir: RunDir) -> CeilingArguments:
    corpus = args.corpus or run_dir.corpus
    return replace(args, sample=args.sample or run_dir.root / "sample", corpus=corpus,
                   heldout_sources=args.heldout_sources or [str(corpus / "heldout_sources.txt")],
                   out=args.out or run_dir.validation / "ceiling")


def load_labelled(args: CeilingArguments, heldout: list[str]) -> Labelled:
    """The sample's documents, then every document of the held-out sources; refuses a sample that holds a
    held-out source's documents and documents without the label."""
    from curate.classify.evaluate import label_of
    from curate.corpus.io import read_documents

    texts, labels, sources, categories, in_sample = [], [], [], [], []

    def add(document, sample: bool) -> None:
        value = document.metadata.get(args.label_key)
        if value is None:
            raise InputError(f"document {document.id!r} has no {args.label_key!r} label to train the ceiling on")
        texts.append(document.text)
        labels.append(int(label_of(value, document.id, args.label_key)))
        sources.append(str(document.metadata.get(args.source_key, "unknown")))
        categories.append(str(document.metadata.get(args.category_key, "")))
        in_sample.append(sample)

    for document in read_documents(args.sample):
        if document.metadata.get(args.source_key) in heldout:
            raise InputError(f"{args.sample}: document {document.id!r} is of the held-out source "
                             f"{document.metadata.get(args.source_key)!r}; the sample must leave those out")
        add(document, True)
    for document in read_documents(args.corpus):
        if document.metadata.get(args.source_key) in heldout:
            add(document, False)
    data = Labelled(texts, np.array(labels), np.array(sources), np.array(categories), np.array(in_sample))
    missing = sorted(set(heldout) - set(data.sources[~data.in_sample]))
    if missing:
        raise InputError(f"{args.corpus} holds no documents of held-out source(s) {', '.join(missing)}")
    if len(set(data.labels[data.in_sample])) != 2:
        raise InputError(f"{args.sample}: training needs both procedural and other documents")
    return data


def measure_ceiling(args: CeilingArguments, run_dir: RunDir | None = None) -> CeilingReport:
    """Write sources.csv, pooled.csv, ceiling.md and ceiling.png to `args.out`; a run directory fills in what
    `args` leaves out."""
    from sklearn.base import clone
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    from curate.classify import ProceduralClassifier
    from curate.classify.model import embed
    from curate.corpus.options import source_names
    from curate.tables import as_text

    if run_dir is not None:
        args = with_run_defaults(args, run_dir)
    if args.sample is None or args.corpus is None or args.out is None or not args.heldout_sources:
        raise InputError("give the training sample, the corpus, the held-out sources and an output folder")
    heldout = source_names(args.heldout_sources)
    data = load_labelled(args, heldout)
    template = ProceduralClassifier(backend=args.backend, seed=args.seed)
    features = None
    if args.backend != "hashed":  # a model's embeddings depend on nothing fitted: embed each document once
        features = embed(template.make_features().fit([]), data.texts, f"embedding with {args.backend}")

    rng = np.random.default_rng(args.seed)
    sample = np.flatnonzero(data.in_sample)
    of_source = {s: np.flatnonzero(~data.in_sample & (data.sources == s)) for s in heldout}
    drawn = {s: np.sort(rng.permutation(idx)[: args.extra_per_source]) for s, idx in of_source.items()}

    def training(setting: str, left_out: str) -> np.ndarray:
        if setting == "sample":
            return sample
        return np.concatenate([sample, *(drawn[s] for s in heldout if s != left_out)])

    def fit(indices: np.ndarray) -> ProceduralClassifier:
        chosen = [data.texts[i] for i in indices]
        return clone(template).fit(chosen, data.labels[indices], None if features is None else features[indices])

    def probability(classifier: ProceduralClassifier, indices: np.ndarray) -> np.ndarray:
        if features is None:
            return classifier.procedural_probability([data.texts[i] for i in indices])
        return classifier.probability_from_features(features[indices])

    rows, pooled = [], []
    for setting in SETTINGS:
        shared = fit(sample) if setting == "sample" else None
        truth, scores = [], []
        for source in heldout:
            indices, trained_on = of_source[source], training(setting, source)
            classifier = shared if shared is not None else fit(trained_on)
            p = probability(classifier, indices)
            truth.append(data.labels[indices])
            scores.append(p)
            rows.append({"setting": setting, "source": source, "category": data.categories[indices[0]],
                         "documents": len(indices), "procedural_share": float(data.labels[indices].mean()),
                         "kept_share": float((p >= 0.5).mean()), "training_documents": len(trained_on)})
        y, p = np.concatenate(truth), np.concatenate(scores)
        kept = p >= 0.5
        sizes = [row["training_documents"] for row in rows if row["setting"] == setting]
        pooled.append({"setting": setting, "documents": len(y),
                       "training_documents": round(float(np.mean(sizes))),  # leaving one out: the folds' mean
                       "precision": float(precision_score(y, kept, zero_division=0)),
                       "recall": float(recall_score(y, kept, zero_division=0)),
                       "f1": float(f1_score(y, kept, zero_division=0)),
                       "average_precision": float(average_precision_score(y, p)) if y.any() else float("nan")})
    sources, pooled_table = pl.DataFrame(rows), pl.DataFrame(pooled)
    args.out.mkdir(parents=True, exist_ok=True)
    sources.write_csv(args.out / "sources.csv")
    pooled_table.write_csv(args.out / "pooled.csv")
    wide = sources.pivot(on="setting", index=["source", "category", "documents", "procedural_share"],
                         values="kept_share")
    (args.out / "ceiling.md").write_text(
        f"# The ceiling: a {args.backend} classifier trained on the evaluation-only labels\n\n"
        f"Training sample: {args.sample} ({len(sample)} documents). Leave-one-source-out adds up to "
        f"{args.extra_per_source} documents of each other held-out source (seed {args.seed}).\n\n"
        f"## Pooled over the held-out sources, threshold 0.5\n\n{as_text(pooled_table)}\n\n"
        f"## Kept share of each held-out source\n\n{as_text(wide)}\n")
    files = [args.out / n for n in ("sources.csv", "pooled.csv", "ceiling.md")]
    files.append(plot_ceiling(sources, args.out / "ceiling.png"))
    return CeilingReport(sources, pooled_table, files)


def plot_ceiling(sources: pl.DataFrame, path: Path) -> Path:
    """Each held-out source's kept share in each setting; procedural sources should be kept, the others not."""
    from curate.plots import plt, save_figure

    first = sources.filter(pl.col("setting") == SETTINGS[0])
    names = first["source"].to_list()
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    for offset, setting in zip((-0.2, 0.2), SETTINGS, strict=True):
        kept = sources.filter(pl.col("setting") == setting)["kept_share"].to_numpy()
        ax.barh(y + offset, kept, 0.4, label=setting)
    labels = [f"{n} ({'procedural' if share >= 0.5 else c or 'other'})"
              for n, c, share in first.select("source", "category", "procedural_share").iter_rows()]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set(xlim=(0, 1), xlabel="share of the source kept at P >= 0.5", title="Trained on the evaluation-only labels")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
