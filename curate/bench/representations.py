"""`curate bench representations`: text representations for the procedural classifier, trained on the same
labels and measured side by side, so that the default is chosen from measurements.

Every candidate learns from exactly the same labelled documents (a training set as `curate classifier train`
writes it) and is evaluated against the corpus's evaluation-only `procedural` metadata on two sets: every
document of the held-out sources (never trained on: the honest test of whether a classifier learned procedure
rather than its training sources' register) and a seeded sample of in-domain documents (the training sources'
documents outside the training set). Candidates: hashed word n-grams, plus character n-grams, the LM's own
hidden states (with `--embedding-model`), a packaged sentence encoder (all-MiniLM-L6-v2), model2vec static
embeddings distilled from it, fastText, and a two-stage filter (a fast first pass, the sentence model rescoring
what it keeps). Reference rows: "FineWeb-Edu-style" (frozen sentence embeddings and a linear head, the recipe of
FineWeb-Edu's classifier; here the same model as the sentence row, its encoder MiniLM rather than Snowflake
Arctic Embed) and an oracle, the sentence model trained on the source labels of the same training documents: an
upper bound for what the representation can learn.

Each embedding model embeds each document once; every classifier on it reuses those features. Throughput is
measured inside datatrove: each classifier, saved and loaded back as the filter loads it, runs as
`ProceduralScoreFilter` in a one-task, one-worker `LocalPipelineExecutor` over the same seeded sample, with one
thread (torch's too); documents per second per core = documents / (pipeline time − the reading-only pipeline's
time), the classifier loaded before the clock starts.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from attribution.progress import progress_bar
from curate.bench.arguments import REPRESENTATIONS, RepresentationBenchArguments
from curate.classify.model import embed
from curate.errors import CurateError, InputError
from filters.procedural import ProceduralScoreFilter

DESCRIPTIONS = {
    "hashed": "hashed word 1-2-grams, tf-idf, logistic regression",
    "hashed+char": "hashed word 1-2-grams + char 3-5-grams, tf-idf, logistic regression",
    "embedding": "the LM's mean-pooled hidden states, logistic regression",
    "sentence": "all-MiniLM-L6-v2 mean-pooled embeddings, logistic regression",
    "static": "model2vec static embeddings distilled from all-MiniLM-L6-v2, logistic regression",
    "fasttext": "fastText supervised (word bigrams, 64 dimensions)",
    "two-stage": "first pass at a permissive threshold, the sentence model rescoring what it keeps",
    "fineweb-edu-style": "frozen sentence embeddings + linear head (FineWeb-Edu's recipe; MiniLM, not Arctic)",
    "oracle": "the sentence model trained on the source labels of the same documents (upper bound)",
}


@dataclass
class Row:
    """One candidate's results: probabilities on the held-out sources and in-domain documents, and its speed."""

    name: str
    labels: str = "influence"
    heldout: np.ndarray | None = None
    in_domain: np.ndarray | None = None
    fit_seconds: float = float("nan")
    docs_per_second: float = float("nan")
    timed_documents: int = 0  # the timing sample, repeated for the fastest classifiers
    classifier: object | None = None  # what the timed filter step loads; None: not timed
    note: str = ""
    skipped: str = ""  # why the candidate could not run


@dataclass
class Data:
    """The labelled training documents and the two evaluation sets, with ground truth and sources."""

    train_texts: list[str]
    labels: np.ndarray
    source_labels: np.ndarray  # the training documents' `procedural` metadata, for the oracle
    heldout_texts: list[str]
    heldout_truth: np.ndarray
    heldout_sources: list[str]
    in_domain_texts: list[str]
    in_domain_truth: np.ndarray
    timing_documents: list = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)


def truth_of(document, corpus: Path) -> bool:
    if "procedural" not in document.metadata:
        raise InputError(f"{corpus}: document {document.id!r} has no `procedural` metadata (evaluation-only ground "
                         "truth); the bench needs it on every evaluated document")
    return bool(document.metadata["procedural"])


def load_data(args: RepresentationBenchArguments, heldout_sources: list[str]) -> Data:
    """Training documents and labels, every document of the held-out sources, a seeded in-domain sample and a
    seeded timing sample; refuses a training set that holds held-out sources' documents or unknown ids."""
    from curate.corpus.io import read_documents

    if not args.training_set.is_file():
        raise InputError(f"{args.training_set}: no training set (`curate classifier train` writes one)")
    training = pl.read_parquet(args.training_set)
    if missing := {"doc_id", "label"} - set(training.columns):
        raise InputError(f"{args.training_set}: no {', '.join(sorted(missing))} column")
    if "round" in training.columns:  # recall rounds' additions are the classifier's guesses, not labels
        training = training.filter(pl.col("round") == 0)
    reading = progress_bar(read_documents(args.corpus), desc="reading the corpus", unit="docs")
    documents = {d.id: d for d in reading}
    ids = training["doc_id"].to_list()
    if unknown := [i for i in ids if i not in documents]:
        raise InputError(f"{len(unknown)} training documents are not in {args.corpus} (e.g. {unknown[0]!r})")
    source = {i: str(d.metadata.get("source", "unknown")) for i, d in documents.items()}
    heldout = set(heldout_sources)
    if leaked := [i for i in ids if source[i] in heldout]:
        raise InputError(f"{len(leaked)} training documents belong to held-out sources (e.g. {leaked[0]!r} of "
                         f"{source[leaked[0]]}): they cannot be evaluated on")
    if absent := sorted(heldout - set(source.values())):
        raise InputError(f"held-out sources with no document in {args.corpus}: {', '.join(absent)}")
    labels = training["label"].to_numpy().astype(int)
    if set(np.unique(labels)) != {0, 1}:
        raise InputError(f"{args.training_set}: labels must be 1 and 0, both present")
    train_ids = set(ids)
    heldout_docs = [d for d in documents.values() if source[d.id] in heldout]
    if args.heldout_per_source is not None:
        heldout_docs = per_source_draw(heldout_docs, source, args.heldout_per_source, args.seed)
    training_sources = {source[i] for i in ids}
    pool = [d for d in documents.values() if source[d.id] in training_sources and d.id not in train_ids]
    rng = np.random.default_rng(args.seed)
    in_domain = [pool[i] for i in sorted(rng.choice(len(pool), min(args.in_domain, len(pool)), replace=False))]
    everything = list(documents.values())
    timing = [everything[i] for i in sorted(rng.choice(len(everything), min(args.timing_documents, len(everything)),
                                                       replace=False))]
    return Data(
        train_texts=[documents[i].text for i in ids], labels=labels,
        source_labels=np.array([truth_of(documents[i], args.corpus) for i in ids], dtype=int),
        heldout_texts=[d.text for d in heldout_docs],
        heldout_truth=np.array([truth_of(d, args.corpus) for d in heldout_docs]),
        heldout_sources=[source[d.id] for d in heldout_docs],
        in_domain_texts=[d.text for d in in_domain],
        in_domain_truth=np.array([truth_of(d, args.corpus) for d in in_domain], dtype=bool),
        timing_documents=timing,
        categories={source[d.id]: str(d.metadata.get("category", "")) for d in heldout_docs},
    )


def per_source_draw(documents: list, source: dict[str, str], per_source: int, seed: int) -> list:
    """At most `per_source` documents of each source, a seeded draw, in the order given."""
    rng = np.random.default_rng([seed, 1])  # its own stream: the in-domain and timing draws stay as they were
    by_source: dict[str, list[int]] = {}
    for k, document in enumerate(documents):
        by_source.setdefault(source[document.id], []).append(k)
    kept = {k for members in by_source.values()
            for k in (rng.choice(members, per_source, replace=False) if len(members) > per_source else members)}
    return [d for k, d in enumerate(documents) if k in kept]


class FastTextScorer:
    """P(procedural) from a supervised fastText model, as `curate bench filter` trains it."""

    def __init__(self, path: Path):
        import fasttext

        self.model = fasttext.load_model(str(path))

    def procedural_probability(self, texts: list[str]) -> np.ndarray:
        labels, probabilities = self.model.predict([" ".join(t.split()) for t in texts], k=-1)
        return np.array([dict(zip(lab, prob, strict=True)).get("__label__procedural", 0.0)
                         for lab, prob in zip(labels, probabilities, strict=True)])


FASTTEXT: dict[str, FastTextScorer] = {}  # timed fastText models by name: the step holds only the name


class FastTextScoreFilter(ProceduralScoreFilter):
    """`ProceduralScoreFilter` scoring with a fastText model held in this process, so that every row is timed
    through the same step (the executor copies the step, which then carries only the model's name)."""

    def score(self, texts: list[str]) -> np.ndarray:
        return FASTTEXT[self.classifier_path].procedural_probability(texts)


class Candidates:
    """Trains the candidates, each once, the embedding models' features computed once per document."""

    def __init__(self, args: RepresentationBenchArguments, data: Data, out: Path):
        self.args, self.data, self.out = args, data, out
        self.rows: dict[str, Row] = {}
        self.features: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # train, held-out, in-domain
        self.embed_seconds: dict[str, float] = {}  # embedding the training documents, per backend
        (out / "models").mkdir(parents=True, exist_ok=True)

    def plain(self, name: str, **settings) -> Row:
        """A classifier that scores texts directly (cheap features: no sharing needed)."""
        from curate.classify.model import ProceduralClassifier

        started = time.perf_counter()
        classifier = ProceduralClassifier(seed=self.args.seed, **settings).fit(self.data.train_texts,
                                                                               self.data.labels)
        row = Row(name, fit_seconds=time.perf_counter() - started, classifier=classifier)
        row.heldout = classifier.procedural_probability(self.data.heldout_texts)
        row.in_domain = classifier.procedural_probability(self.data.in_domain_texts)
        return row

    def shared(self, name: str, labels: np.ndarray | None = None, label_name: str = "influence",
               **settings) -> Row:
        """A classifier on an embedding model's features, which are computed once per backend and reused."""
        from curate.classify.model import ProceduralClassifier

        classifier = ProceduralClassifier(seed=self.args.seed, max_length=self.args.max_length, **settings)
        key = settings["backend"]
        started = time.perf_counter()
        if key not in self.features:
            step = classifier.make_features().fit(self.data.train_texts[:1])
            train = embed(step, self.data.train_texts, f"{key}: training documents")
            self.embed_seconds[key] = time.perf_counter() - started
            self.features[key] = (train, embed(step, self.data.heldout_texts, f"{key}: held-out sources"),
                                  embed(step, self.data.in_domain_texts, f"{key}: in-domain documents"))
            started = time.perf_counter()
        train, heldout, in_domain = self.features[key]
        labels = self.data.labels if labels is None else labels
        classifier.fit(self.data.train_texts, labels, features=train)
        seconds = time.perf_counter() - started + self.embed_seconds[key]
        return Row(name, label_name, classifier.probability_from_features(heldout),
                   classifier.probability_from_features(in_domain), seconds, classifier=classifier)

    def fasttext(self) -> Row:
        from curate.bench.filter import train_fasttext

        started = time.perf_counter()
        path = train_fasttext(self.data.train_texts, self.data.labels, self.out / "models" / "fasttext.bin",
                              self.args.seed)
        scorer = FastTextScorer(path)
        row = Row("fasttext", fit_seconds=time.perf_counter() - started, classifier=scorer)
        row.heldout = scorer.procedural_probability(self.data.heldout_texts)
        row.in_domain = scorer.procedural_probability(self.data.in_domain_texts)
        return row

    def two_stage(self) -> Row:
        from curate.classify.two_stage import TwoStageClassifier, combine

        first, second = self.get(self.args.first_stage), self.get("sentence")
        for stage in (first, second):
            if stage.skipped:
                raise CurateError(f"its stage {stage.name} was skipped ({stage.skipped})")
        threshold = self.args.first_threshold
        joined = TwoStageClassifier.from_fitted(first.classifier, second.classifier, threshold)
        heldout, in_domain = (combine(f, s[f >= threshold], threshold)
                              for f, s in ((first.heldout, second.heldout), (first.in_domain, second.in_domain)))
        passed = float(np.mean(np.concatenate([first.heldout, first.in_domain]) >= threshold))
        return Row("two-stage", heldout=heldout, in_domain=in_domain, classifier=joined,
                   fit_seconds=first.fit_seconds + second.fit_seconds,
                   note=f"{first.name} ≥ {threshold:g}, then sentence; the first pass keeps {passed:.0%} of the "
                        "evaluated documents")

    def build(self, name: str) -> Row:
        if name == "hashed":
            return self.plain(name, backend="hashed")
        if name == "hashed+char":
            return self.plain(name, backend="hashed", char_ngrams=(3, 5))
        if name == "embedding":
            if self.args.embedding_model is None:
                return Row(name, skipped="no --embedding-model given")
            return self.shared(name, backend="embedding", embedding_model=str(self.args.embedding_model))
        if name in ("sentence", "static"):
            return self.shared(name, backend=name)
        if name == "fasttext":
            return self.fasttext()
        if name == "two-stage":
            return self.two_stage()
        if name == "oracle":
            if self.get("sentence").skipped:
                raise CurateError(f"the sentence model was skipped ({self.get('sentence').skipped})")
            row = self.shared(name, labels=self.data.source_labels, label_name="source (procedural)",
                              backend="sentence")
            row.classifier = None  # not timed: the sentence row's model, features and speed
            return row
        raise InputError(f"unknown candidate {name!r}")

    def get(self, name: str) -> Row:
        """The candidate's row, trained on first use; a candidate that cannot run is a skipped row."""
        if name not in self.rows:
            try:
                self.rows[name] = self.build(name)
            except CurateError as error:  # e.g. the embed extra not installed: the other rows still run
                self.rows[name] = Row(name, skipped=str(error))
        return self.rows[name]


MIN_SECONDS = 2.0  # a classifier's share of a shorter pass is too close to the reading time's own noise
MAX_COPIES = 50  # times the timing sample is repeated for the fastest classifiers


def timing_corpus(folder: Path, documents: list, copies: int) -> Path:
    """The timing sample repeated `copies` times (ids made unique), written once."""
    from datatrove.data import Document

    from curate.corpus.io import write_documents

    path = folder / f"corpus-x{copies}"
    if not path.exists():
        write_documents((Document(text=d.text, id=f"{d.id}#{copy}", metadata={})
                         for copy in range(copies) for d in documents), path)
    return path


def time_candidates(rows: list[Row], data: Data, out: Path, repeats: int) -> float:
    """Documents per second per core of each timed row, inside datatrove; returns the reading-only seconds of
    one pass over the sample. A classifier that filters the sample in under `MIN_SECONDS` is timed again on the
    sample repeated, against reading the same repeated sample."""
    import torch
    from loguru import logger

    from curate.bench.filter import timed_pipeline
    from filters import procedural

    folder = out / "timing"
    shutil.rmtree(folder, ignore_errors=True)  # datatrove would skip tasks an earlier run completed
    steps = {}
    for row in rows:
        if row.classifier is None:
            continue
        path = out / "models" / f"{row.name}.joblib"
        if isinstance(row.classifier, FastTextScorer):
            FASTTEXT[str(path)] = row.classifier
            steps[row.name] = FastTextScoreFilter(str(path), threshold=0.5)
        else:
            row.classifier.save(path)
            # loaded, and its encoder too (each stage's), before the clock starts, as a working filter holds them
            loaded = procedural.load_scorer(str(path))
            for stage in (getattr(loaded, "first_", None), getattr(loaded, "second_", None), loaded):
                if stage is not None:
                    stage.procedural_probability([data.timing_documents[0].text])
            steps[row.name] = ProceduralScoreFilter(str(path), threshold=0.5)

    def best_seconds(names: list[str], copies: int) -> dict[str, float]:
        corpus = timing_corpus(folder, data.timing_documents, copies)
        best = dict.fromkeys(["reading", *names], float("inf"))
        for repeat in range(repeats):  # alternating, so that a change in the machine's load falls on every row
            for name in progress_bar(best, desc=f"timing on {copies}× the sample, pass {repeat + 1}/{repeats}",
                             unit="classifier", leave=False):
                seconds = timed_pipeline(corpus, steps.get(name), folder / "logs" / f"x{copies}" / name / str(repeat))
                best[name] = min(best[name], seconds)
        reading = best.pop("reading")
        return {name: seconds - reading for name, seconds in best.items()} | {"reading": reading}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logger.disable("datatrove")  # each pass would print its stats; the progress bars say enough
    try:
        once = best_seconds(list(steps), 1)
        measured = {name: (1, once[name]) for name in steps}
        fast = {name: min(MAX_COPIES, int(np.ceil(MIN_SECONDS / max(once[name], MIN_SECONDS / MAX_COPIES))))
                for name in steps if once[name] < MIN_SECONDS}
        for copies in sorted(set(fast.values())):
            again = best_seconds([name for name, c in fast.items() if c == copies], copies)
            measured |= {name: (copies, again[name]) for name in again if name != "reading"}
    finally:
        torch.set_num_threads(threads)
        logger.enable("datatrove")
    for row in rows:
        if row.name in measured:
            copies, seconds = measured[row.name]
            row.timed_documents = copies * len(data.timing_documents)
            # a pass no slower than reading alone: too fast to measure here, which NaN says rather than a figure
            row.docs_per_second = row.timed_documents / seconds if seconds > 0 else float("nan")
    return once["reading"]


def metrics(probabilities: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    predicted = probabilities >= 0.5
    precision, recall, f1, _ = precision_recall_fscore_support(truth.astype(int), predicted.astype(int),
                                                               average="binary", zero_division=0)
    both = 0 < truth.sum() < len(truth)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "ap": float(average_precision_score(truth, probabilities)) if both else float("nan"),
            "kept": float(predicted.mean()) if len(predicted) else float("nan")}


def results_table(rows: list[Row], data: Data) -> pl.DataFrame:
    records = []
    for row in rows:
        record = {"candidate": row.name, "labels": row.labels, "description": DESCRIPTIONS.get(row.name, "")}
        for prefix, probabilities, truth in (("heldout", row.heldout, data.heldout_truth),
                                             ("in_domain", row.in_domain, data.in_domain_truth)):
            scores = metrics(probabilities, truth) if probabilities is not None else {}
            for key in ("precision", "recall", "f1", "ap", "kept"):
                record[f"{prefix}_{key}"] = scores.get(key, float("nan"))
        record |= {"docs_per_s_per_core": row.docs_per_second, "timed_documents": row.timed_documents,
                   "fit_seconds": row.fit_seconds,
                   "note": row.skipped and f"skipped: {row.skipped}" or row.note}
        records.append(record)
    return pl.DataFrame(records)


def sources_table(rows: list[Row], data: Data) -> pl.DataFrame:
    """Per held-out source: its category, documents, procedural share, and each candidate's kept fraction."""
    sources = np.array(data.heldout_sources)
    names = sorted(set(data.heldout_sources))
    table = {"source": names, "category": [data.categories.get(s, "") for s in names],
             "documents": [int((sources == s).sum()) for s in names],
             "procedural_share": [float(data.heldout_truth[sources == s].mean()) for s in names]}
    for row in rows:
        if row.heldout is not None:
            table[row.name] = [float((row.heldout[sources == s] >= 0.5).mean()) for s in names]
    return pl.DataFrame(table)


def plot(table: pl.DataFrame, path: Path) -> Path:
    from curate.plots import new_figure, save_figure

    fig, ax = new_figure(6.5, 4.5)
    timed = table.filter(pl.col("docs_per_s_per_core").is_not_nan() & pl.col("heldout_f1").is_not_nan())
    points: dict[tuple[float, float], list[str]] = {}  # reference rows share their model's point: one label
    for record in timed.iter_rows(named=True):
        points.setdefault((record["docs_per_s_per_core"], record["heldout_f1"]), []).append(record["candidate"])
    for index, ((speed, f1), names) in enumerate(sorted(points.items())):
        ax.scatter(speed, f1)
        below = index % 2  # neighbours by speed alternate above and below their point, so that labels part
        ax.annotate(" =\n".join(names), (speed, f1), textcoords="offset points", xytext=(5, -6 if below else 6),
                    va="top" if below else "bottom", fontsize=8)
    ax.set(xscale="log", xlabel="documents / s / core (datatrove, one thread)", ylabel="F1 on held-out sources",
           title="Procedural classifier representations", ylim=(0, 1.02))
    return save_figure(fig, path)


@dataclass
class RepresentationReport:
    table: pl.DataFrame
    sources: pl.DataFrame
    files: dict[str, Path]
    training_documents: int
    heldout_documents: int
    in_domain_documents: int
    reading_seconds: float


def run_representation_bench(args: RepresentationBenchArguments) -> RepresentationReport:
    """Train every candidate on the same labels, evaluate and time each; writes the tables and the plot."""
    from curate.corpus.options import source_names
    from curate.tables import as_text

    heldout_sources = source_names(args.heldout_sources)  # names, or a real corpus's heldout_sources.txt
    if not heldout_sources:
        from curate.corpus.real import HELDOUT_SOURCES

        heldout_sources = list(HELDOUT_SOURCES)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(args, heldout_sources)
    candidates = Candidates(args, data, out)
    for name in progress_bar(args.candidates, desc="training candidates", unit="candidate"):
        candidates.get(name)
    order = [*REPRESENTATIONS, *candidates.rows]
    rows = sorted(candidates.rows.values(), key=lambda row: order.index(row.name))
    reading = time_candidates([r for r in rows if not r.skipped], data, out, args.repeats)
    if "sentence" in candidates.rows and not candidates.rows["sentence"].skipped:
        sentence = candidates.rows["sentence"]
        rows.append(Row("fineweb-edu-style", heldout=sentence.heldout, in_domain=sentence.in_domain,
                        fit_seconds=sentence.fit_seconds, docs_per_second=sentence.docs_per_second,
                        timed_documents=sentence.timed_documents,
                        note="the same classifier as the sentence row"))
    if "oracle" in candidates.rows and not candidates.rows["oracle"].skipped:
        oracle = candidates.rows["oracle"]
        oracle.docs_per_second = candidates.rows["sentence"].docs_per_second
        oracle.timed_documents = candidates.rows["sentence"].timed_documents
        oracle.note = "the sentence model's features and speed; source labels, not influence"
        rows.remove(oracle)
        rows.append(oracle)
    table = results_table(rows, data)
    sources = sources_table(rows, data)
    files = {"csv": out / "representations.csv", "md": out / "representations.md",
             "sources": out / "heldout_sources.csv", "plot": out / "representations.png"}
    table.write_csv(files["csv"])
    sources.write_csv(files["sources"])
    shown = table.drop("description")
    files["md"].write_text(
        f"Training documents: {len(data.labels)} ({int(data.labels.sum())} positive); held-out sources: "
        f"{', '.join(sorted(set(data.heldout_sources)))} ({len(data.heldout_texts)} documents, "
        f"{data.heldout_truth.mean():.0%} procedural); in-domain held-out documents: {len(data.in_domain_texts)}. "
        f"Threshold 0.5. Throughput: a seeded sample of {len(data.timing_documents)} documents (repeated for "
        f"classifiers faster than {MIN_SECONDS:g} s a pass: timed_documents) in a one-task, one-worker datatrove "
        f"pipeline, one thread, reading subtracted ({reading:.2f} s for the sample once).\n\n{as_text(shown)}\n\n"
        f"Kept fraction (score ≥ 0.5) per held-out source:\n\n{as_text(sources)}\n\n"
        + "\n".join(f"- {name}: {text}" for name, text in DESCRIPTIONS.items()) + "\n")
    plot(table, files["plot"])
    return RepresentationReport(table, sources, files, len(data.labels), len(data.heldout_texts),
                                len(data.in_domain_texts), reading)
