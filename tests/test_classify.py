import json
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from attribution.scores import load_per_nat_scores
from curate.classify import LabelArguments, ProceduralClassifier, label_from_scores, load_classifier
from curate.classify.labels import aggregate_scores
from curate.classify.report import evaluate
from curate.classify.train import train_from_scores
from curate.errors import InputError


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


def test_labels_use_every_reasoning_set_or_the_ones_named(tmp_path):
    from attribution.options import options_from
    from curate.classify.labels import label_probe_ids
    from curate.cli import build_parser
    from curate.probes.sets import Probe, write_probes

    sets = {"arithmetic": "reasoning", "code_trace": "reasoning", "howto": "reasoning", "factual": "factual",
            "reasoning_control": "control"}
    write_probes([Probe(f"{name}-{i}", name, kind, "q", " a", "a") for name, kind in sets.items() for i in range(2)],
                 tmp_path / "probes.jsonl")
    scored = [f"{name}-{i}" for name in sets for i in range(2) if f"{name}-{i}" != "howto-1"]
    reasoning, factual = label_probe_ids(tmp_path / "probes.jsonl", scored)
    assert reasoning == ["arithmetic-0", "arithmetic-1", "code_trace-0", "code_trace-1", "howto-0"]
    assert factual == ["factual-0", "factual-1"]
    args = build_parser("classifier").parse_args(["classifier", "train", "--label-sets", "code_trace", "howto"])
    chosen = options_from(LabelArguments, args).sets
    assert label_probe_ids(tmp_path / "probes.jsonl", scored, chosen)[0] == ["code_trace-0", "code_trace-1", "howto-0"]
    with pytest.raises(InputError, match="must be reasoning sets.*not factual, algebra"):
        label_probe_ids(tmp_path / "probes.jsonl", scored, ["howto", "factual", "algebra"])
    with pytest.raises(InputError, match="no.* reasoning probe of slope"):
        label_probe_ids(tmp_path / "probes.jsonl", scored, ["slope"])


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


def test_a_bottom_band_of_the_whole_rest_makes_every_other_document_a_negative():
    args = LabelArguments(top_k=40, negatives_per_positive=9, bottom=1.0)
    labelled = label_from_scores(planted_scores(), ["r0", "r1", "r2", "r3"], args=args)
    assert labelled.height == 400 and labelled["label"].sum() == 40
    for bad in ({"bottom": 0.0}, {"bottom": 1.5}, {"bottom_share": -0.1}, {"top_k": 0}):
        with pytest.raises(InputError, match="takes a number"):
            LabelArguments(**bad)


def test_signed_and_breadth_aggregations():
    """Signed keeps the direction magnitude discards; breadth counts probes, so one probe's outlier counts once."""
    rng = np.random.default_rng(0)
    n = 300
    columns = {"doc_id": [f"d{i}" for i in range(n)], "doc_grad_norm": np.ones(n)}
    for p in range(5):
        values = rng.normal(0.0, 0.1, n)
        values[:10] += 1.0  # help every probe
        values[10:20] -= 1.0  # hurt every probe
        values[20] = 50.0 if p == 0 else 0.0  # one huge push on one probe only
        columns[f"r{p}"] = values
    scores = pl.DataFrame(columns)
    probes = [f"r{p}" for p in range(5)]
    magnitude, signed = aggregate_scores(scores, probes, "magnitude"), aggregate_scores(scores, probes, "signed")
    breadth = aggregate_scores(scores, probes, "breadth")
    assert set(np.argsort(-signed)[:11].tolist()) == set(range(10)) | {20}
    assert set(np.argsort(signed)[:10].tolist()) == set(range(10, 20))  # magnitude ranks these with the helpers
    assert set(np.argsort(-magnitude)[:21].tolist()) == set(range(21))
    assert np.argmax(magnitude) == 20  # the outlier leads the mean magnitude...
    assert breadth[20] == 0.2 and (breadth[:20] == 1.0).all()  # ...but is in one probe's top tenth of five
    assert breadth.max() == 1.0 and breadth.min() == 0.0


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


def test_against_factual_cancels_what_moves_every_probe():
    """Each document moves every probe in proportion to its own loudness, and prose is loud (as on SmolLM2);
    procedure moves the reasoning probes 3x more than its loudness alone would."""
    rng = np.random.default_rng(0)
    n = 400
    procedural = np.arange(n) < 100
    loudness = rng.lognormal(0, 0.3, n) * np.where(np.arange(n) >= 200, 6.0, 1.0)  # 200-399: prose
    columns = {"doc_id": [f"d{i}" for i in range(n)], "doc_grad_norm": np.ones(n)}
    for p in range(4):
        sign = rng.choice([-1.0, 1.0], n)
        columns[f"r{p}"] = sign * loudness * np.where(procedural, 3.0, 1.0) * rng.normal(1, 0.1, n)
    for p in range(2):
        columns[f"f{p}"] = rng.choice([-1.0, 1.0], n) * loudness * rng.normal(1, 0.1, n)
    scores = pl.DataFrame(columns)
    magnitude = label_from_scores(scores, ["r0", "r1", "r2", "r3"], ["f0", "f1"], LabelArguments(top_k=50))
    contrast = label_from_scores(scores, ["r0", "r1", "r2", "r3"], ["f0", "f1"],
                                 LabelArguments(top_k=50, against_factual=True))
    share = {name: np.mean([int(d[1:]) < 100 for d in labels.filter(pl.col("label") == 1)["doc_id"]])
             for name, labels in (("magnitude", magnitude), ("contrast", contrast))}
    assert share["magnitude"] < 0.2 and share["contrast"] > 0.8, share
    with pytest.raises(InputError, match="--against-factual needs factual probes"):
        label_from_scores(scores, ["r0", "r1"], [], LabelArguments(against_factual=True))


def test_scores_without_gradient_norms_are_refused_for_per_grad_norm():
    """The random baseline has no norms (NaN): dividing by them once ranked documents in file order."""
    scores = planted_scores().with_columns(doc_grad_norm=pl.lit(float("nan")))
    with pytest.raises(InputError, match="--per-grad-norm needs document gradient norms"):
        label_from_scores(scores, ["r0", "r1", "r2", "r3"], args=LabelArguments(per_grad_norm=True))
    broken = planted_scores().with_columns(r0=pl.lit(float("nan")))
    with pytest.raises(InputError, match="400 documents have non-finite scores"):
        label_from_scores(broken, ["r0", "r1", "r2", "r3"])


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
    classifier = ProceduralClassifier(n_features=2**12).fit(texts, labels)
    test = procedural_texts(rng, 20) + prose_texts(rng, 20)
    both = classifier.predict_proba(test)
    assert both.shape == (40, 2) and np.allclose(both.sum(axis=1), 1)
    probabilities = classifier.procedural_probability(test)
    assert np.array_equal(probabilities, both[:, 1]) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert np.array_equal(classifier.predict(test), (probabilities >= 0.5).astype(int))
    report = evaluate(probabilities, np.array([1] * 20 + [0] * 20), ["code"] * 20 + ["web"] * 20)
    assert report["f1"] == 1.0 and report["source_share_of_predicted_positives"]["code"] == 1.0
    classifier.provenance_["run_dir"] = "runs/x"  # what training from a ranking adds
    loaded = load_classifier(classifier.save(tmp_path / "c.joblib"))
    assert np.array_equal(loaded.predict_proba(test), both)
    assert loaded.provenance_ == {"training_documents": 120, "positives": 60, "run_dir": "runs/x"}


def test_classifier_is_a_scikit_learn_estimator():
    from sklearn.base import clone

    rng = np.random.default_rng(4)
    texts = procedural_texts(rng, 30) + prose_texts(rng, 30)
    labels = np.array(["procedural"] * 30 + ["other"] * 30)  # any two labels: the second, sorted, is positive
    classifier = ProceduralClassifier(n_features=2**10, word_ngrams=[1, 1], C=2.0)
    assert classifier.get_params()["word_ngrams"] == [1, 1]  # stored as given
    assert classifier.set_params(C=1.0) is classifier and classifier.C == 1.0
    assert classifier.fit(texts, labels) is classifier
    assert classifier.classes_.tolist() == ["other", "procedural"]
    fresh = clone(classifier)
    assert fresh.get_params() == classifier.get_params() and not hasattr(fresh, "pipeline_")
    assert np.array_equal(fresh.fit(texts, labels).predict_proba(texts), classifier.predict_proba(texts))
    assert classifier.predict(procedural_texts(rng, 3)).tolist() == ["procedural"] * 3
    assert classifier.score(texts, labels) == 1.0
    assert classifier.predict_proba([]).shape == (0, 2)
    with pytest.raises(InputError, match="one label each"):
        classifier.fit(texts, labels[:-1])


class _ClaimsArrayInput(ProceduralClassifier):
    """scikit-learn runs its estimator checks only on estimators that take 2-D numeric arrays; the classifier
    says it takes text, so this test double claims array input to have the checks run, the numeric ones
    expected to fail (below)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags


NUMERIC_X = "fits or predicts on a numeric array; the classifier's input is documents (strings)"
EXPECTED_FAILED_CHECKS = {
    **dict.fromkeys(
        [
            "check_fit_score_takes_y",
            "check_estimators_overwrite_params",
            "check_dont_overwrite_parameters",
            "check_estimators_fit_returns_self",
            "check_readonly_memmap_input",
            "check_n_features_in_after_fitting",
            "check_estimators_dtypes",
            "check_complex_data",
            "check_dtype_object",
            "check_estimators_empty_data_messages",
            "check_pipeline_consistency",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_classifier_data_not_an_array",
            "check_classifiers_classes",
            "check_classifiers_train",
            "check_supervised_y_2d",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_fit2d_1feature",
            "check_dict_unchanged",
            "check_fit_idempotent",
            "check_fit_check_is_fitted",
            "check_n_features_in",
            "check_fit1d",
            "check_fit2d_predict1d",
        ],
        NUMERIC_X,
    ),
    "check_positive_only_tag_during_fit": "negative numbers as X: " + NUMERIC_X,
    "check_estimators_nan_inf": "NaN and inf in X: " + NUMERIC_X,
    "check_estimator_sparse_tag": "a sparse matrix as X: " + NUMERIC_X,
    "check_estimator_sparse_array": "a sparse array as X: " + NUMERIC_X,
    "check_estimator_sparse_matrix": "a sparse matrix as X: " + NUMERIC_X,
    # these two reach the labels first: they are refused (InputError), in other words than the check looks for
    "check_classifiers_regression_target": "continuous labels with " + NUMERIC_X,
    "check_requires_y_none": "labels None with " + NUMERIC_X,
}


def test_scikit_learn_estimator_checks():
    """Cloning, parameters, tags, repr, unfitted errors, one-label and multiclass refusal, and the rest that
    do not need numeric input pass; the numeric ones fail (EXPECTED_FAILED_CHECKS), and all of them do."""
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(
        _ClaimsArrayInput(n_features=2**8), expected_failed_checks=EXPECTED_FAILED_CHECKS, on_skip=None
    )
    status = {}
    for result in results:
        status.setdefault(result["check_name"], set()).add(result["status"])
    expected = {name: status[name] for name in EXPECTED_FAILED_CHECKS}
    assert expected == dict.fromkeys(EXPECTED_FAILED_CHECKS, {"xfail"})
    passed = {name for name, found in status.items() if found == {"passed"}}
    assert {"check_estimator_cloneable", "check_set_params", "check_get_params_invariance",
            "check_no_attributes_set_in_init", "check_estimators_unfitted", "check_mixin_order",
            "check_classifier_not_supporting_multiclass", "check_classifiers_one_label"} <= passed


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
    assert words.pipeline_[0].transform(texts[:2]).shape[1] == 2**12  # one hashed space for words
    assert both.pipeline_[0].transform(texts[:2]).shape[1] == 2 * 2**12  # words and characters side by side
    assert both.predict(procedural_texts(rng, 5)).all() and not both.predict(prose_texts(rng, 5)).any()


def test_bad_classifier_files_and_labels(tmp_path):
    with pytest.raises(InputError, match="no classifier file"):
        load_classifier(tmp_path / "missing.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a classifier file"):
        load_classifier(tmp_path / "junk.joblib")
    import joblib

    for version in (1, 2):
        joblib.dump({"file_version": version, "classifier": None}, tmp_path / "old.joblib")
        with pytest.raises(InputError, match=f"version {version}.*retrain it with `curate classifier train`"):
            load_classifier(tmp_path / "old.joblib")
    with pytest.raises(InputError, match="both positive and negative"):
        ProceduralClassifier().fit(["a", "b"], [1, 1])
    with pytest.raises(InputError, match="3 classes"):
        ProceduralClassifier().fit(["a", "b", "c"], [0, 1, 2])


def write_scores(directory, scores: pl.DataFrame) -> None:
    """A scores directory as `curate influence score` writes it: every probe's completion 2 nats."""
    directory.mkdir(parents=True)
    scores.write_parquet(directory / "part-00000.parquet")
    probes = [{"id": c, "nats": 2.0, "gradient_norm": 1.0} for c in scores.columns[2:]]
    (directory / "probes.json").write_text(json.dumps({"probes": probes}))


def test_train_from_a_scores_directory(tmp_path):
    rng = np.random.default_rng(1)
    n = 200
    texts = procedural_texts(rng, 40) + prose_texts(rng, n - 40)
    scores = planted_scores(n)
    write_scores(tmp_path / "scores", scores)
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


def test_train_classifier_saves_one_per_ranking_and_reports_on_held_out_documents(tmp_path, capsys):
    from datatrove.data import Document

    from curate.classify import ClassifierArguments, train_classifier
    from curate.cli import main
    from curate.corpus.io import write_documents
    from curate.paths import CLASSIFIER_FILE, RunDir
    from curate.probes.sets import Probe, write_probes

    run = RunDir(tmp_path)
    rng = np.random.default_rng(5)
    scores = planted_scores(200)
    texts = procedural_texts(rng, 40) + prose_texts(rng, 160)
    write_documents(
        [Document(text=t, id=i, metadata={"procedural": k < 40, "source": "code" if k < 40 else "web"})
         for k, (i, t) in enumerate(zip(scores["doc_id"], texts, strict=True))],
        run.corpus,
    )
    write_scores(run.scores, scores)
    write_scores(run.scores_for("random"), scores.sample(fraction=1.0, shuffle=True, seed=0).with_columns(
        doc_id=scores["doc_id"]))
    probes = [Probe(f"r{i}", "arithmetic", "reasoning", "q", "a", "a") for i in range(4)]
    write_probes(probes + [Probe(f"f{i}", "factual", "factual", "q", "a", "a") for i in range(2)], run.probes)
    compare = [f"random={run.scores_for('random')}"]
    report = train_classifier(ClassifierArguments(run.root, compare=compare, labels=LabelArguments(top_k=30)))
    assert main(["classifier", "train", "--run-dir", str(run.root), "--top-k", "30", "--compare", *compare]) == 0
    printed = capsys.readouterr().out
    trained = report.provenance["ekfac"]["training_documents"]
    assert f"ekfac: trained on {trained} documents (30 positives); saved {run.classifier_file}" in printed
    assert report.table in printed and f"on {report.heldout_documents} held-out documents" in printed
    assert report.files["ekfac"] == run.classifier_file
    assert report.files["random"] == run.classifier / "from_random" / CLASSIFIER_FILE
    provenance = load_classifier(run.classifier_file).provenance_
    assert provenance == report.provenance["ekfac"] and provenance["positives"] == 30
    assert provenance["reasoning_probes"] == ["r0", "r1", "r2", "r3"]
    assert provenance["factual_probes"] == ["f0", "f1"]
    assert pl.read_parquet(run.classifier_training_set).height == provenance["training_documents"]
    assert report.evaluation["ekfac"]["f1"] == 1.0 and set(report.evaluation) == {"ekfac", "random"}
    assert json.loads((run.classifier / "report.json").read_text()) == report.evaluation
    assert (run.classifier / "pr_curve.png").exists()
    assert report.table in (run.classifier / "report.md").read_text()
    with pytest.raises(InputError, match="NAME=SCORES_DIR"):
        train_classifier(ClassifierArguments(run.root, compare=["random"]))
    with pytest.raises(InputError, match="MIN MAX"):
        ClassifierArguments(run.root, word_ngrams=[1, 2, 3])


def test_source_folds_refit_without_each_source_and_score_it(tmp_path):
    from datatrove.data import Document

    from curate.classify import ClassifierArguments, train_classifier
    from curate.cli import main
    from curate.corpus.io import write_documents
    from curate.paths import RunDir
    from curate.probes.sets import Probe, write_probes

    run = RunDir(tmp_path)
    rng = np.random.default_rng(5)
    scores = planted_scores(200)
    texts = procedural_texts(rng, 40) + prose_texts(rng, 160)
    source = ["code_a", "code_b"] * 20 + ["web_a", "web_b"] * 80
    write_documents([Document(text=t, id=i, metadata={"procedural": k < 40, "source": source[k]})
                     for k, (i, t) in enumerate(zip(scores["doc_id"], texts, strict=True))], run.corpus)
    write_scores(run.scores, scores)
    probes = [Probe(f"r{i}", "arithmetic", "reasoning", "q", "a", "a") for i in range(4)]
    write_probes(probes + [Probe(f"f{i}", "factual", "factual", "q", "a", "a") for i in range(2)], run.probes)
    args = ClassifierArguments(run.root, labels=LabelArguments(top_k=30), source_folds=True)
    report = train_classifier(args)
    table = {row["source"]: row for row in report.source_folds.iter_rows(named=True)}
    assert set(table) == {"code_a", "code_b", "web_a", "web_b"}
    assert sum(row["documents"] for row in table.values()) == 200  # every scored document, each in its fold
    training = pl.read_parquet(run.classifier_training_set)
    assert sum(row["training_documents_left_out"] for row in table.values()) == training.height
    # each procedural source is recognised from its sibling's labels alone
    assert table["code_a"]["kept_share"] > 0.9 and table["web_a"]["kept_share"] < 0.1
    assert report.evaluation["ekfac, source folds"]["documents"] == 200
    assert (run.classifier / "source_folds.csv").exists()
    assert "source folds" in (run.classifier / "report.md").read_text()
    assert main(["classifier", "train", "--run-dir", str(run.root), "--top-k", "30", "--source-folds"]) == 0
    write_documents([Document(text=t, id=i) for i, t in zip(scores["doc_id"], texts, strict=True)],
                    tmp_path / "unlabelled")
    with pytest.raises(InputError, match="needs the ground truth"):
        train_classifier(replace(args, corpus=tmp_path / "unlabelled"))
