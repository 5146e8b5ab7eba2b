import json

import numpy as np
import polars as pl
import pytest

from attribution.scores import load_per_nat_scores
from curate.classify import LabelArguments, ProceduralClassifier, label_from_scores, load_classifier
from curate.classify.labels import aggregate_scores
from curate.classify.report import evaluate
from curate.classify.train import train_from_scores
from curate.errors import UserFacingError


def planted_scores(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Documents 0..39 are influential for every reasoning probe; 40..59 for every factual one."""
    rng = np.random.default_rng(seed)
    columns = {"doc_id": [f"d{i}" for i in range(n)], "doc_grad_norm": rng.uniform(1, 2, n)}
    for p in range(4):
        values = rng.normal(0, 1, n)
        values[:40] += 5
        columns[f"r{p}"] = values
    for p in range(2):
        values = rng.normal(0, 1, n)
        values[40:60] += 5
        columns[f"f{p}"] = values
    return pl.DataFrame(columns)


def test_top_k_positives_and_disjoint_negatives():
    args = LabelArguments(top_k=40, negatives_per_positive=2, bottom_share=0.5)
    labelled = label_from_scores(planted_scores(), ["r0", "r1", "r2", "r3"], args=args)
    positives = set(labelled.filter(pl.col("label") == 1)["doc_id"])
    negatives = set(labelled.filter(pl.col("label") == 0)["doc_id"])
    assert positives == {f"d{i}" for i in range(40)}
    assert len(negatives) == 80 and not positives & negatives
    again = label_from_scores(planted_scores(), ["r0", "r1", "r2", "r3"], args=args)
    assert labelled.equals(again)


def test_rank_aggregation_is_not_decided_by_one_probes_outlier():
    scores = planted_scores()
    scores = scores.with_columns(
        pl.when(pl.col("doc_id") == "d399").then(1e6).otherwise(pl.col("r0")).alias("r0")
    )
    rank = aggregate_scores(scores, ["r0", "r1", "r2", "r3"], "rank")
    zscore = aggregate_scores(scores, ["r0", "r1", "r2", "r3"], "zscore")
    assert np.argmax(zscore) == 399
    assert set(np.argsort(-rank)[:40].tolist()) == set(range(40))


def test_magnitude_puts_documents_that_move_nothing_at_the_bottom_even_when_scores_have_an_offset():
    """Scores centred away from zero: |z| would rank documents at the mean lowest; magnitude ranks zeros lowest."""
    rng = np.random.default_rng(0)
    n = 400
    columns = {"doc_id": [f"d{i}" for i in range(n)], "doc_grad_norm": np.ones(n)}
    for p in range(4):
        values = rng.normal(1.0, 0.3, n)  # most documents help every probe a little
        values[:40] += 5
        values[360:] = 0.0  # these move no probe at all
        columns[f"r{p}"] = values
    scores = pl.DataFrame(columns)
    magnitude = aggregate_scores(scores, ["r0", "r1", "r2", "r3"], "magnitude")
    assert set(np.argsort(magnitude)[:40].tolist()) == set(range(360, 400))
    assert set(np.argsort(-magnitude)[:40].tolist()) == set(range(40))
    args = LabelArguments(top_k=40, bottom=0.1)
    negatives = label_from_scores(scores, ["r0", "r1", "r2", "r3"], args=args).filter(pl.col("label") == 0)
    assert set(negatives["doc_id"]) == {f"d{i}" for i in range(360, 400)}


def test_exclude_factual_drops_documents_top_ranked_for_facts():
    scores = planted_scores().with_columns(
        pl.when(pl.col("doc_id").is_in([f"d{i}" for i in range(10)]))
        .then(9.0)
        .otherwise(pl.col("f0"))
        .alias("f0"),
        pl.when(pl.col("doc_id").is_in([f"d{i}" for i in range(10)]))
        .then(9.0)
        .otherwise(pl.col("f1"))
        .alias("f1"),
    )
    args = LabelArguments(top_k=40, exclude_factual=True, aggregate="rank")
    labelled = label_from_scores(scores, ["r0", "r1", "r2", "r3"], ["f0", "f1"], args)
    positives = set(labelled.filter(pl.col("label") == 1)["doc_id"])
    assert positives == {f"d{i}" for i in range(10, 40)}


def procedural_texts(rng, n):
    return [
        f"def step_{i}(x):\n    y = x * {rng.integers(2, 9)}\n    return y + {rng.integers(1, 9)}"
        for i in range(n)
    ]


def prose_texts(rng, n):
    towns = ["Lyon", "Oslo", "Quito", "Perth", "Cork"]
    return [
        f"In {1900 + int(rng.integers(0, 99))} the town of {rng.choice(towns)} held a fair with music."
        for _ in range(n)
    ]


def test_classifier_separates_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    texts = procedural_texts(rng, 60) + prose_texts(rng, 60)
    labels = [1] * 60 + [0] * 60
    classifier = ProceduralClassifier(n_features=2**12, provenance={"k": 60}).fit(texts, labels)
    test = procedural_texts(rng, 20) + prose_texts(rng, 20)
    probabilities = classifier.predict_proba(test)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    report = evaluate(probabilities, np.array([1] * 20 + [0] * 20), ["code"] * 20 + ["web"] * 20)
    assert report["f1"] == 1.0 and report["source_share_of_predicted_positives"]["code"] == 1.0
    loaded = load_classifier(classifier.save(tmp_path / "c.joblib"))
    assert np.array_equal(loaded.predict_proba(test), probabilities)
    assert loaded.provenance == {"k": 60}


TOKENISER_TEXTS = [
    "Step 2: x = (7 + 5) * 3, therefore\nthe Answer is 36.",
    "def f(a, b): return a+b",
    "",
    "one",
    "naïve İstanbul 3×4≤12 — ok_go €5 日本語 😀!\t end",
    "  \n ",
    "a a a a",
]


def test_batch_tokens_are_the_regular_expressions_tokens():
    import re

    from curate.classify.hashing import token_spans

    _, starts, ends, document = token_spans(TOKENISER_TEXTS)
    joined = "\n".join(text.lower() for text in TOKENISER_TEXTS)
    found = [[] for _ in TOKENISER_TEXTS]
    for start, end, row in zip(starts, ends, document, strict=True):
        found[row].append(joined[start:end])
    assert found == [re.findall(r"\w+|[^\w\s]", text.lower()) for text in TOKENISER_TEXTS]


def test_hashed_word_ngrams_count_scikit_learns_ngrams():
    """Same n-grams as scikit-learn's word analyzer with our token pattern, each counted at the column the
    n-gram gets alone, whatever document and position it comes from."""
    from collections import Counter

    from sklearn.feature_extraction.text import CountVectorizer

    from curate.classify.model import HashedWordNgrams

    n_features = 2**24  # no collisions among these few n-grams
    for ngram_range in [(1, 1), (1, 2), (1, 3), (2, 3)]:
        counts = HashedWordNgrams(n_features, ngram_range).transform(TOKENISER_TEXTS)
        analyzer = CountVectorizer(ngram_range=ngram_range, token_pattern=r"\w+|[^\w\s]").build_analyzer()

        def column(gram: str) -> int:
            order = len(gram.split(" "))
            alone = HashedWordNgrams(n_features, (order, order)).transform([gram])
            assert alone.nnz == 1
            return int(alone.indices[0])

        for row, text in enumerate(TOKENISER_TEXTS):
            expected = Counter(column(gram) for gram in analyzer(text))
            found = counts[row]
            assert dict(zip(found.indices.tolist(), found.data.tolist(), strict=True)) == expected
    bigrams = HashedWordNgrams(n_features, (2, 2)).transform(["a b", "b a"])
    assert bigrams[0].indices.tolist() != bigrams[1].indices.tolist()  # order matters


def test_character_ngrams_are_optional_features():
    rng = np.random.default_rng(2)
    texts = procedural_texts(rng, 30) + prose_texts(rng, 30)
    labels = [1] * 30 + [0] * 30
    words = ProceduralClassifier(n_features=2**12).fit(texts, labels)
    both = ProceduralClassifier(n_features=2**12, char_ngrams=(3, 4)).fit(texts, labels)
    assert words.transform(texts[:2]).shape[1] == 2**12  # one hashed space for words
    assert both.transform(texts[:2]).shape[1] == 2 * 2**12  # words and characters side by side
    assert both.predict(procedural_texts(rng, 5)).all() and not both.predict(prose_texts(rng, 5)).any()


def test_bad_classifier_files_and_labels(tmp_path):
    with pytest.raises(UserFacingError, match="no classifier file"):
        load_classifier(tmp_path / "missing.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"junk")
    with pytest.raises(UserFacingError, match="not a classifier file"):
        load_classifier(tmp_path / "junk.joblib")
    import joblib

    joblib.dump({"file_version": 1, "classifier": None}, tmp_path / "old.joblib")
    with pytest.raises(UserFacingError, match="version 1.*retrain"):
        load_classifier(tmp_path / "old.joblib")
    with pytest.raises(UserFacingError, match="both positive and negative"):
        ProceduralClassifier().fit(["a", "b"], [1, 1])


def test_train_from_a_scores_directory(tmp_path):
    rng = np.random.default_rng(1)
    n = 200
    texts = procedural_texts(rng, 40) + prose_texts(rng, n - 40)
    scores = planted_scores(n)
    (tmp_path / "scores").mkdir()
    scores.write_parquet(tmp_path / "scores" / "part-00000.parquet")
    probes = [{"id": c, "nats": 2.0, "gradient_norm": 1.0} for c in ["r0", "r1", "r2", "r3", "f0", "f1"]]
    (tmp_path / "scores" / "probes.json").write_text(json.dumps({"probes": probes}))
    per_nat, meta = load_per_nat_scores(tmp_path / "scores")
    assert np.allclose(per_nat["r0"].to_numpy(), scores["r0"].to_numpy() / 2.0)
    texts_by_id = dict(zip(scores["doc_id"].to_list(), texts, strict=True))
    classifier, training_set = train_from_scores(
        per_nat,
        texts_by_id,
        ["r0", "r1", "r2", "r3"],
        ["f0", "f1"],
        ProceduralClassifier(n_features=2**12),
        LabelArguments(top_k=40),
    )
    assert training_set.filter(pl.col("label") == 1).height == 40
    assert (
        classifier.predict(procedural_texts(rng, 5)).all()
        and not classifier.predict(prose_texts(rng, 5)).any()
    )


def test_a_saved_classifier_loads_and_scores_without_torch(tmp_path):
    """What a datatrove worker needs: scikit-learn and this package, not the training environment."""
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(3)
    texts = procedural_texts(rng, 20) + prose_texts(rng, 20)
    path = ProceduralClassifier(n_features=2**12).fit(texts, [1] * 20 + [0] * 20).save(tmp_path / "c.joblib")
    blocked = tmp_path / "blocked"  # shadows torch and transformers: importing either fails, as if absent
    for name in ("torch", "transformers"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')")
    script = (
        "from curate.classify import load_classifier\n"
        f"print(load_classifier({str(path)!r}).predict([{texts[0]!r}, {texts[-1]!r}]).tolist())"
    )
    environment = {**os.environ, "PYTHONPATH": str(blocked)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 0]"
