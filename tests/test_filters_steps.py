"""The filter steps in-process: heuristics, procedural score filter, reweighting."""

import math
import pickle
import random

import numpy as np
import pytest
from datatrove.data import Document
from sklearn.preprocessing import FunctionTransformer

from curate.corpus.io import make_writer, read_documents
from curate.errors import InputError
from filters import heuristics
from filters.heuristic_filter import HeuristicFilter
from filters.procedural import ProceduralScoreFilter, load_scorer
from filters.reweight import Bucket, Reweighter, parse_buckets

PROCEDURAL = [
    "Step 1: add 14 and 9. 14 + 9 = 23. Step 2: multiply by 3. 23 * 3 = 69. Therefore the answer is 69.",
    "Solve for x: 4x + 8 = 20.\n4x = 20 - 8\n  = 12\nx = 12 / 4 = 3\nSo x = 3.",
    "```python\ndef slope(x1, y1, x2, y2):\n    return (y2 - y1) / (x2 - x1)\n```\nThen call slope(1, 2, 3, 6).",
    r"We have $\frac{a}{b} = c$, hence $a = b c$ and therefore $a - bc = 0$.",
]
PROSE = [
    "The village of Arden lies by the river and its church was rebuilt after the great flood.",
    "Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity.",
    "The museum opens at nine in the morning and closes in the evening, except on public holidays.",
    "Autumn leaves turned red and gold along the old road that leads out of the town.",
]


def make_docs(n: int, seed: int) -> list[Document]:
    """Procedural (worked arithmetic) and prose documents, about 40% procedural."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        if rng.random() < 0.4:
            text = f"Step 1: add {a} and {b}. {a} + {b} = {a + b}. Step 2: double it. {a + b} * 2 = {2 * (a + b)}. Therefore {2 * (a + b)}."
            meta = {"source": "math", "procedural": True}
        else:
            text = f"The village of {rng.choice(['Arden', 'Bel', 'Cor'])} had {a} houses and a church by the river in {1800 + b}."
            meta = {"source": "wiki", "procedural": False}
        docs.append(Document(text=text, id=f"d{seed}-{i}", metadata=meta))
    return docs


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    from curate.classify import ProceduralClassifier

    train = make_docs(300, seed=1)
    clf = ProceduralClassifier(n_features=2**12).fit([d.text for d in train], [int(d.metadata["procedural"]) for d in train])
    return str(clf.save(tmp_path_factory.mktemp("clf") / "classifier.joblib"))


# --- heuristics -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", heuristics.FEATURE_NAMES)
def test_each_detector_scores_procedural_text_above_prose(name):
    function = heuristics.FEATURES[name]
    assert all(function(text) == 0 for text in PROSE), name
    assert max(function(text) for text in PROCEDURAL) >= 0.3, name


def test_detectors_find_what_they_are_named_for():
    code, derivation, latex = PROCEDURAL[2], PROCEDURAL[1], PROCEDURAL[3]
    assert heuristics.code_line_ratio(code) > 0.7
    assert heuristics.code_line_ratio(PROCEDURAL[0]) == 0
    assert heuristics.equation_chain_ratio(derivation) >= 0.5
    assert heuristics.formula_density(latex) > 0.4
    assert heuristics.step_marker_ratio(PROCEDURAL[0]) > 0.5
    assert all(heuristics.FEATURES[n]("") == 0 for n in heuristics.FEATURE_NAMES)


def test_feature_matrix_matches_functions_and_works_in_sklearn():
    texts = PROCEDURAL + PROSE
    matrix = heuristics.heuristic_features(texts)
    assert matrix.shape == (len(texts), len(heuristics.FEATURE_NAMES)) and matrix.dtype == np.float32
    for j, name in enumerate(heuristics.FEATURE_NAMES):
        assert matrix[:, j] == pytest.approx([heuristics.FEATURES[name](t) for t in texts], abs=1e-6)
    assert (matrix >= 0).all() and (matrix <= 1).all()
    subset = heuristics.heuristic_features(texts, names=("formula_density",))
    assert subset[:, 0] == pytest.approx(matrix[:, 1])
    assert FunctionTransformer(heuristics.heuristic_features).fit_transform(texts).shape == matrix.shape
    with pytest.raises(ValueError, match="unknown heuristic"):
        heuristics.heuristic_features(texts, names=("nope",))


def test_heuristic_filter_annotates_and_keeps_if_any_minimum_is_met(tmp_path):
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(PROCEDURAL + PROSE)]
    step = HeuristicFilter({"code_line_ratio": 0.5, "step_marker_ratio": 0.3}, exclusion_writer=make_writer(tmp_path))
    kept = list(step.run(iter(docs)))
    assert {d.id for d in kept} == {"0", "2", "3"}  # steps, code, "hence/therefore"; the derivation has one "So"
    assert all(f"heuristic_{n}" in d.metadata for d in kept for n in heuristics.FEATURE_NAMES)
    dropped = list(read_documents(tmp_path))
    assert sorted(d.id for d in dropped) == ["1", "4", "5", "6", "7"]
    assert {d.metadata["filter_reason"] for d in dropped} == {"no_procedural_heuristic"}
    assert step.stats["dropped_no_procedural_heuristic"].total == 5
    annotate_only = HeuristicFilter()
    assert len(list(annotate_only.run(iter(docs)))) == len(docs)


# --- procedural score ---------------------------------------------------------------------------------------


def test_annotate_only_keeps_everything_with_the_classifier_score(classifier_path):
    docs = make_docs(300, seed=2)
    step = ProceduralScoreFilter(classifier_path, batch_size=64)
    kept = list(step.run(iter(docs)))
    expected = load_scorer(classifier_path).procedural_probability([d.text for d in docs])
    assert [d.id for d in kept] == [d.id for d in docs]
    assert [d.metadata["procedural_score"] for d in kept] == pytest.approx(expected.tolist())
    assert step.stats["batches"].total == 5  # 300 documents in batches of 64
    # the classifier separates the two kinds of document it was trained on
    procedural = np.array([d.metadata["procedural"] for d in docs])
    assert expected[procedural].min() > expected[~procedural].max()


def test_threshold_keeps_scores_at_or_above_and_writes_the_rest_with_a_reason(classifier_path, tmp_path):
    docs = make_docs(200, seed=3)
    scores = load_scorer(classifier_path).procedural_probability([d.text for d in docs])
    threshold = float(np.median(scores))
    step = ProceduralScoreFilter(classifier_path, threshold=threshold, exclusion_writer=make_writer(tmp_path))
    kept = list(step.run(iter(docs)))
    assert {d.id for d in kept} == {d.id for d, s in zip(docs, scores, strict=True) if s >= threshold}
    excluded = list(read_documents(tmp_path))
    assert {d.id for d in excluded} == {d.id for d, s in zip(docs, scores, strict=True) if s < threshold}
    assert all(d.metadata["filter_reason"] == "low_procedural_score" for d in excluded)
    assert all(d.metadata["procedural_score"] < threshold for d in excluded)
    assert step.stats["threshold"].mean == threshold


def test_keep_fraction_from_a_sample_keeps_that_fraction_of_the_corpus(classifier_path):
    docs = make_docs(4000, seed=4)
    rng = np.random.default_rng(0)
    sample = [docs[i].text for i in rng.choice(len(docs), size=500, replace=False)]
    step = ProceduralScoreFilter(classifier_path, keep_fraction=0.3)
    with pytest.raises(RuntimeError, match="calibrate"):
        list(step.run(iter(docs[:1])))
    threshold = step.calibrate(sample)
    assert step.calibration["sample_size"] == 500 and step.calibration["threshold"] == threshold
    kept = len(list(step.run(iter(docs))))
    # the kept share of the corpus is the share above a quantile estimated from 500 draws: its standard
    # error is about sqrt(f(1 - f) / 500) = 0.02; allow 4 standard errors
    assert abs(kept / len(docs) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 500)


def test_model_is_loaded_lazily_and_never_pickled(classifier_path):
    step = ProceduralScoreFilter(classifier_path, threshold=0.5)
    list(step.run(iter(make_docs(10, seed=5))))
    blob = pickle.dumps(step)
    assert len(blob) < 20_000  # the path and settings only; the fitted model is megabytes
    load_scorer.cache_clear()
    clone = pickle.loads(blob)
    assert load_scorer.cache_info().currsize == 0  # unpickling does not load the model
    list(clone.run(iter(make_docs(10, seed=6))))
    list(clone.run(iter(make_docs(10, seed=7))))
    assert load_scorer.cache_info().misses == 1  # loaded once for the process, reused by later batches


def test_threshold_and_keep_fraction_exclude_each_other(classifier_path):
    with pytest.raises(ValueError):
        ProceduralScoreFilter(classifier_path, threshold=0.5, keep_fraction=0.1)
    with pytest.raises(ValueError):
        ProceduralScoreFilter(classifier_path, keep_fraction=1.5)


# --- reweighting ----------------------------------------------------------------------------------------


def scored(n: int, score: float = 0.5) -> list[Document]:
    return [Document(text=f"doc {i}", id=f"x{i}", metadata={"procedural_score": score}) for i in range(n)]


def test_reweighting_reproduces_the_weight_in_expectation():
    n, weight = 20_000, 1.3
    step = Reweighter([Bucket(0.0, 1.0, weight)], seed=0)
    out = list(step.run(iter(scored(n))))
    copies = np.bincount([int(d.id.split("#r")[1]) if "#r" in d.id else 0 for d in out])
    per_doc = {}
    for d in out:
        per_doc[d.metadata.get("repeat_of", d.id)] = per_doc.get(d.metadata.get("repeat_of", d.id), 0) + 1
    counts = np.array(list(per_doc.values()))
    assert len(per_doc) == n and set(counts.tolist()) == {1, 2}  # floor(1.3) = 1 copy, plus one with p = 0.3
    # copies per document is 1 + Bernoulli(0.3): standard deviation sqrt(0.3 * 0.7); allow 4 standard errors
    assert abs(counts.mean() - weight) < 4 * math.sqrt(0.3 * 0.7 / n)
    assert len(out) == counts.sum() == step.stats["copies"].total
    assert len({d.id for d in out}) == len(out)  # every copy has its own id
    assert copies[0] == n and all(d.metadata["weight"] == weight for d in out)


def test_weights_below_one_drop_documents_to_the_exclusion_writer(tmp_path):
    n = 4000
    step = Reweighter([Bucket(0.0, 1.0, 0.25)], seed=1, exclusion_writer=make_writer(tmp_path))
    kept = list(step.run(iter(scored(n))))
    excluded = list(read_documents(tmp_path))
    assert len(kept) + len(excluded) == n
    assert {d.id for d in kept} | {d.id for d in excluded} == {f"x{i}" for i in range(n)}
    assert all(d.metadata["filter_reason"] == "reweighted_to_zero" for d in excluded)
    assert abs(len(kept) / n - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)
    assert step.stats["dropped_reweighted_to_zero"].total == len(excluded)


def test_draws_differ_between_ranks_and_repeat_within_a_rank():
    step = Reweighter([Bucket(0.0, 1.0, 1.5)], seed=7)

    def pattern(rank, seed=7):
        step.seed = seed
        return [d.id for d in step.run(iter(scored(200)), rank=rank)]

    assert pattern(0) == pattern(0)
    assert pattern(0) != pattern(1)
    assert pattern(0) != pattern(0, seed=8)


def test_buckets_pick_weights_and_unbucketed_scores_keep_weight_one():
    step = Reweighter(parse_buckets("0.9:1.0=2,0.0:0.5=0"), seed=0)
    docs = [*scored(3, 0.2), *scored(3, 0.7), *scored(3, 1.0)]
    for i, d in enumerate(docs):
        d.id = f"y{i}"
    out = list(step.run(iter(docs)))
    ids = [d.id for d in out]
    assert ids == ["y3", "y4", "y5", "y6", "y6#r1", "y7", "y7#r1", "y8", "y8#r1"]  # 1.0 falls in the top bucket
    assert step.stats["bucket_unbucketed"].total == 3


def test_reweighting_needs_scores_and_parses_bucket_specs():
    with pytest.raises(InputError, match="needs the score step"):
        list(Reweighter([Bucket(0, 1, 1)]).run(iter([Document(text="t", id="a")])))
    assert parse_buckets("0.0:0.5=0.5, 0.5:0.9=1,0.9:1.0=2") == [Bucket(0, 0.5, 0.5), Bucket(0.5, 0.9, 1), Bucket(0.9, 1, 2)]
    for bad, message in [("0:0.6=1,0.5:1=2", "overlap"), ("0.5=1", "LOW:HIGH=WEIGHT"), ("0.5:0.2=1", "LOW < HIGH"), ("0:1=-1", "WEIGHT >= 0"), ("", "no reweight")]:
        with pytest.raises(InputError, match=message):
            parse_buckets(bad)
